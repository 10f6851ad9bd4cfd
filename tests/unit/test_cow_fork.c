/* Forking VMs from one template: copy-on-write isolation between forks and
 * from the template, many forks in a row and from several threads. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "microguest.h"
#include "util/error.h"

#define SNAP 200 /* counter value at the snapshot */

static char dir[] = "/tmp/fb-cow-test.XXXXXX";
static char path[256];
static struct fb_template *tmpl;

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/mg.tmpl", dir);
	if (mg_write_template(path, SNAP, NULL) < 0 || fb_template_open(path, &tmpl) < 0) {
		fprintf(stderr, "template: %s\n", fb_error_last());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fb_template_close(tmpl);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static uint64_t counter_in(const uint8_t *mem)
{
	uint64_t c;
	memcpy(&c, mem + MG_COUNTER_GPA, 8);
	return c;
}

/* Runs n iterations; 0 when every value and register is what a correct
 * continuation from the snapshot gives. */
static int fork_and_check(int n)
{
	struct mg_vm vm;
	int r = -1;
	if (mg_fork(&vm, tmpl) < 0)
		goto out;
	for (int i = 1; i <= n; i++) {
		uint32_t c;
		if (mg_run_once(&vm, &c) < 0)
			goto out;
		if (c != SNAP + (uint32_t)i) {
			fb_error("fork counter %u, expected %u", c, SNAP + i);
			goto out;
		}
	}
	struct kvm_regs regs;
	if (ioctl(vm.vcpu_fd, KVM_GET_REGS, &regs) < 0 || regs.r12 != 3ull * (SNAP + n) ||
	    regs.rcx != (uint64_t)(SNAP + n)) {
		fb_error("fork registers wrong (r12 %llu, rcx %llu)", (unsigned long long)regs.r12,
			 (unsigned long long)regs.rcx);
		goto out;
	}
	r = 0;
out:
	mg_vm_destroy(&vm);
	return r;
}

static void run_expect(struct mg_vm *vm, uint32_t expected)
{
	uint32_t c = 0;
	if (mg_run_once(vm, &c) < 0)
		fail_msg("run: %s", fb_error_last());
	assert_int_equal(c, expected);
}

static void test_two_forks_isolated(void **state)
{
	(void)state;
	struct mg_vm a, b;
	if (mg_fork(&a, tmpl) < 0 || mg_fork(&b, tmpl) < 0)
		fail_msg("fork: %s", fb_error_last());
	for (uint32_t i = 1; i <= 50; i++)
		run_expect(&a, SNAP + i);
	a.mem[(3u << 20) + 5] = 0xaa; /* host-side write into a hole page of A */
	/* B starts from the snapshot, blind to A's guest and host writes. */
	assert_int_equal(counter_in(b.mem), SNAP);
	assert_int_equal(b.mem[(3u << 20) + 5], 0);
	run_expect(&b, SNAP + 1);
	run_expect(&a, SNAP + 51);
	assert_int_equal(counter_in(a.mem), SNAP + 51);
	assert_int_equal(counter_in(b.mem), SNAP + 1);

	/* The template itself: a fresh mapping and the file bytes unchanged. */
	uint8_t *fresh;
	assert_int_equal(fb_template_map_memory(tmpl, (void **)&fresh), 0);
	assert_int_equal(counter_in(fresh), SNAP);
	assert_int_equal(fresh[(3u << 20) + 5], 0);
	munmap(fresh, MG_MEM_SIZE);
	uint64_t on_disk = 0;
	int fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, &on_disk, 8, fb_template_mem_offset(tmpl) + MG_COUNTER_GPA), 8);
	close(fd);
	assert_int_equal(on_disk, SNAP);
	assert_int_equal(fb_template_verify_memory(tmpl), 0);
	mg_vm_destroy(&a);
	mg_vm_destroy(&b);
}

static void test_100_sequential_forks(void **state)
{
	(void)state;
	for (int i = 0; i < 100; i++)
		if (fork_and_check(1 + i % 7) < 0)
			fail_msg("fork %d: %s", i, fb_error_last());
}

struct worker {
	pthread_t thread;
	int failures;
	char error[256];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 25; i++) {
		if (fork_and_check(5 + i % 3) < 0) {
			w->failures++;
			snprintf(w->error, sizeof(w->error), "%s", fb_error_last());
		}
	}
	return NULL;
}

static void test_forks_in_4_threads(void **state)
{
	(void)state;
	struct worker w[4];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&w[i].thread, NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(w[i].thread, NULL), 0);
	for (int i = 0; i < 4; i++)
		if (w[i].failures)
			fail_msg("thread %d: %d failed forks: %s", i, w[i].failures, w[i].error);
}

/* A process forked after opening the template uses it too. */
static void test_fork_in_child_process(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fork_and_check(3) == 0 ? 0 : 1);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(fork_and_check(2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_forks_isolated),
	    cmocka_unit_test(test_100_sequential_forks),
	    cmocka_unit_test(test_forks_in_4_threads),
	    cmocka_unit_test(test_fork_in_child_process),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

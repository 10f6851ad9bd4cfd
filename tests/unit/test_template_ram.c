/* The template's memory in RAM (src/vmm/template_ram.c): a sealed memfd
 * with exactly the template's bytes, zero pages left as holes, mapped copy
 * on write by each fork, shared with child processes, and independent of
 * the template file once loaded. Also: a fork of the micro-guest from it
 * runs. */
#include "microguest_vmm.h"

#include "util/error.h"
#include "vmm/fork.h"
#include "vmm/kvm.h"
#include "vmm/template_ram.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define PAGE 4096u

struct fixture {
	char path[64];
	struct fb_template *t;
	uint8_t *file_view; /* the template file's memory, for comparisons */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/fb-tmpl-ram.XXXXXX");
	int fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	if (mg_write_vmm_template(f->path, 100) < 0 || fb_template_open(f->path, &f->t) < 0)
		fail_msg("setup: %s", fb_error_last());
	void *view;
	assert_int_equal(fb_template_map_memory(f->t, &view), 0);
	f->file_view = malloc(MG_MEM_SIZE);
	assert_non_null(f->file_view);
	memcpy(f->file_view, view, MG_MEM_SIZE);
	munmap(view, MG_MEM_SIZE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	fb_template_close(f->t);
	unlink(f->path);
	free(f->file_view);
	free(f);
	return 0;
}

static struct fb_template_ram *load(struct fixture *f, bool lock, bool huge)
{
	struct fb_template_ram_options o = {.lock = lock, .huge_pages = huge};
	struct fb_template_ram *ram;
	if (fb_template_ram_load(f->t, &o, &ram) < 0)
		fail_msg("load: %s", fb_error_last());
	return ram;
}

static void assert_same_bytes(const struct fixture *f, const struct fb_template_ram *ram)
{
	void *m;
	assert_int_equal(fb_template_ram_map(ram, &m), 0);
	assert_int_equal((uintptr_t)m % (2u << 20), 0); /* 2 MiB aligned */
	assert_memory_equal(m, f->file_view, MG_MEM_SIZE);
	munmap(m, MG_MEM_SIZE);
}

static void test_same_bytes_holes_sealed(void **state)
{
	struct fixture *f = *state;
	struct fb_template_ram *ram = load(f, false, false);
	assert_int_equal(fb_template_ram_size(ram), MG_MEM_SIZE);
	/* Only non-zero pages take memory. */
	struct fb_template_ram_info info;
	fb_template_ram_info(ram, &info);
	assert_int_equal(info.resident_bytes, fb_template_mem_nonzero_pages(f->t) * PAGE);
	assert_false(info.locked);
	/* Forks reading every byte fill holes of data chunks at most: the
	 * micro-guest's data all lies in the first 2 MiB. */
	assert_int_equal(fb_template_ram_data_bytes(ram), 2u << 20);
	assert_same_bytes(f, ram);
	fb_template_ram_info(ram, &info);
	assert_true(info.resident_bytes <= fb_template_ram_data_bytes(ram));
	/* Sealed: no writes, no resizing, no writable shared mapping. */
	int fd = fb_template_ram_fd(ram);
	int seals = fcntl(fd, F_GET_SEALS);
	assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
			 F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	assert_int_equal(pwrite(fd, "x", 1, 0), -1);
	assert_int_equal(ftruncate(fd, 0), -1);
	assert_ptr_equal(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
	fb_template_ram_close(ram);
}

static void test_copy_on_write(void **state)
{
	struct fixture *f = *state;
	struct fb_template_ram *ram = load(f, false, false);
	uint8_t *a, *b;
	assert_int_equal(fb_template_ram_map(ram, (void **)&a), 0);
	assert_int_equal(fb_template_ram_map(ram, (void **)&b), 0);
	memset(a + MG_COUNTER_GPA, 0xab, PAGE);
	memset(a + MG_MEM_SIZE - PAGE, 0xcd, PAGE); /* a hole, written */
	assert_memory_equal(b, f->file_view, MG_MEM_SIZE);
	munmap(a, MG_MEM_SIZE);
	munmap(b, MG_MEM_SIZE);
	assert_same_bytes(f, ram);
	fb_template_ram_close(ram);
}

/* Loaded once, then the file may change or vanish: forks, in this process
 * and in children, still see the template as it was. */
static void test_independent_of_file_and_shared_with_children(void **state)
{
	struct fixture *f = *state;
	struct fb_template_ram *ram = load(f, false, false);
	int fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
	assert_same_bytes(f, ram);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *m;
		int ok =
		    fb_template_ram_map(ram, &m) == 0 && memcmp(m, f->file_view, MG_MEM_SIZE) == 0;
		_exit(ok ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fb_template_ram_close(ram);
}

static void test_locked_and_huge(void **state)
{
	struct fixture *f = *state;
	struct fb_template_ram *ram = load(f, true, false);
	struct fb_template_ram_info info;
	fb_template_ram_info(ram, &info);
	assert_true(info.locked);
	assert_same_bytes(f, ram);
	fb_template_ram_close(ram);
	ram = load(f, false, true);
	fb_template_ram_info(ram, &info);
	/* Whether the kernel gave huge pages depends on it; the bytes may not. */
	assert_int_equal(info.huge_bytes % (2u << 20), 0);
	fprintf(stderr, "# huge pages: %llu KiB\n", (unsigned long long)(info.huge_bytes >> 10));
	assert_same_bytes(f, ram);
	fb_template_ram_close(ram);
}

/* A fork whose memory comes from RAM runs the guest from the snapshot. */
static void test_fork_runs(void **state)
{
	struct fixture *f = *state;
	struct fb_kvm kvm;
	if (fb_kvm_open(&kvm) < 0)
		fail_msg("%s", fb_error_last());
	struct fb_template_ram *ram = load(f, false, false);
	struct fb_fork_options fo = {.ram = ram, .serial_fd = -1};
	struct fb_vm *vm = fb_fork_create(&kvm, f->t, &fo);
	if (!vm)
		fail_msg("fork: %s", fb_error_last());
	assert_int_equal(mg_vm_counter(vm), 100);
	assert_int_equal(fb_vm_start(vm), 0);
	for (int i = 0; i < 20000 && mg_vm_counter(vm) <= 100; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	assert_true(mg_vm_counter(vm) > 100);
	fb_vm_destroy(vm);
	fb_template_ram_close(ram);
	fb_kvm_close(&kvm);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_same_bytes_holes_sealed),
	    T(test_copy_on_write),
	    T(test_independent_of_file_and_shared_with_children),
	    T(test_locked_and_huge),
	    T(test_fork_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

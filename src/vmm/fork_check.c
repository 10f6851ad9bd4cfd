/* fork-check: proves forks from a template work and are isolated (used by
 * tests/vm/t-template-fork.sh inside the KVM test host).
 *
 *   fork-check TEMPLATE [N]
 *
 * Fork A writes a marker file into its guest's tmpfs and keeps running;
 * then N forks, in parallel threads, run Python + numpy and must not see
 * A's marker; finally the template's memory must still match its checksum.
 * Prints TAP lines ("ok - ...", "not ok - ...") and timings; exits 0 only
 * if every check passed. */
#include "proto/client.h"
#include "util/clock.h"
#include "util/error.h"
#include "vmm/fork.h"
#include "vmm/kvm.h"
#include "vmm/virtio/vsock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AGENT_PORT 1024
#define MAX_FORKS  16
#define OUT_MAX	   4096

static const char code_writer[] = "open('/tmp/fb-fork-marker', 'w').write('A')\n"
				  "import numpy\n"
				  "print('A', int(numpy.arange(10).sum()))\n";
static const char expect_writer[] = "A 45\n";
static const char code_reader[] =
    "import os, numpy\n"
    "print(os.path.exists('/tmp/fb-fork-marker'), int(numpy.ones(3).sum()))\n";
static const char expect_reader[] = "False 3\n";

struct fork_run {
	const struct fb_kvm *kvm;
	const struct fb_template *t;
	const char *code, *expect;
	struct fb_vm *vm; /* kept when keep_vm */
	int keep_vm;
	double fork_ms, exec_ms;
	char out[OUT_MAX];
	size_t out_len;
	int ok;
	char why[FB_ERROR_MAX];
};

static int collect(void *ctx, int stream, const void *data, size_t len)
{
	struct fork_run *r = ctx;
	(void)stream;
	if (len > OUT_MAX - 1 - r->out_len)
		len = OUT_MAX - 1 - r->out_len;
	memcpy(r->out + r->out_len, data, len);
	r->out_len += len;
	r->out[r->out_len] = '\0';
	return 0;
}

static int exec_code(struct fork_run *r)
{
	int fd = fb_vsock_connect(r->vm->vsock, AGENT_PORT);
	if (fd < 0)
		return -1;
	struct fb_agent_request req = {.code = r->code,
				       .code_len = strlen(r->code),
				       .time_limit_ms = 120000,
				       .host_timeout_ms = 240000};
	struct fb_agent_handlers h = {.on_output = collect, .ctx = r};
	struct fb_agent_outcome out;
	int rc = fb_agent_run(fd, &req, &h, &out);
	close(fd);
	if (rc < 0)
		return -1;
	if (out.exit_code != 0 || strcmp(r->out, r->expect) != 0)
		return fb_error("exit code %d%s%s after %.1f ms in the guest, output '%s' "
				"(expected '%s')",
				out.exit_code, out.timed_out ? ", timed out" : "",
				out.host_deadline ? " (host deadline)" : "",
				(double)out.guest_run_time_ns / 1e6, r->out, r->expect);
	return 0;
}

static void *run_one(void *arg)
{
	struct fork_run *r = arg;
	struct fb_fork_options fo = {.serial_fd = -1};
	double t0 = fb_clock_ms();
	r->vm = fb_fork_create(r->kvm, r->t, &fo);
	r->fork_ms = fb_clock_ms() - t0;
	if (!r->vm || fb_vm_start(r->vm) < 0) {
		snprintf(r->why, sizeof(r->why), "%s", fb_error_last());
		return NULL;
	}
	t0 = fb_clock_ms();
	r->ok = exec_code(r) == 0;
	r->exec_ms = fb_clock_ms() - t0;
	if (!r->ok)
		snprintf(r->why, sizeof(r->why), "%s (vCPU: %s)", fb_error_last(),
			 fb_vm_error(r->vm));
	if (!r->keep_vm) {
		fb_vm_destroy(r->vm);
		r->vm = NULL;
	}
	return NULL;
}

static int report(const char *what, const struct fork_run *r)
{
	if (r->ok)
		printf("ok - %s (fork %.1f ms, exec %.1f ms)\n", what, r->fork_ms, r->exec_ms);
	else
		printf("not ok - %s: %s\n", what, r->why);
	return r->ok ? 0 : 1;
}

static int run_parallel(const struct fb_kvm *kvm, const struct fb_template *t, int n)
{
	static struct fork_run runs[MAX_FORKS];
	pthread_t threads[MAX_FORKS];
	int failed = 0;
	for (int i = 0; i < n; i++) {
		runs[i] = (struct fork_run){
		    .kvm = kvm, .t = t, .code = code_reader, .expect = expect_reader};
		if (pthread_create(&threads[i], NULL, run_one, &runs[i]) != 0) {
			printf("not ok - start thread for fork %d\n", i);
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		char what[64];
		pthread_join(threads[i], NULL);
		snprintf(what, sizeof(what), "fork %d runs numpy and does not see fork A's file",
			 i);
		failed |= report(what, &runs[i]);
	}
	return failed;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: fork-check TEMPLATE [N (1..%d)]\n", MAX_FORKS);
		return 2;
	}
	int n = argc == 3 ? atoi(argv[2]) : 4;
	if (n < 1 || n > MAX_FORKS) {
		fprintf(stderr, "fork-check: N must be 1..%d\n", MAX_FORKS);
		return 2;
	}
	struct fb_kvm kvm;
	struct fb_template *t;
	if (fb_kvm_open(&kvm) < 0 || fb_template_open(argv[1], &t) < 0) {
		printf("not ok - open KVM and template: %s\n", fb_error_last());
		return 1;
	}
	static struct fork_run writer;
	writer = (struct fork_run){
	    .kvm = &kvm, .t = t, .code = code_writer, .expect = expect_writer, .keep_vm = 1};
	run_one(&writer);
	int failed = report("fork A runs numpy and writes a file in its guest", &writer);
	failed |= run_parallel(&kvm, t, n);
	fb_vm_destroy(writer.vm);
	if (fb_template_verify_memory(t) == 0) {
		printf("ok - template memory unchanged after %d forks (checksum)\n", n + 1);
	} else {
		printf("not ok - template memory checksum: %s\n", fb_error_last());
		failed = 1;
	}
	fb_template_close(t);
	fb_kvm_close(&kvm);
	return failed;
}

/* guest-crash: what a request sees when its guest dies under it.
 *
 *   tests/vm/guest-crash TEMPLATE
 *
 * The code of a request cannot crash the guest kernel (it runs unprivileged,
 * sysrq is not built in), so this makes it happen from the host, the way a
 * guest kernel bug would look: it forks one VM from TEMPLATE through the
 * engine's own pieces (fork, vsock connect, fb_agent_run), runs code that
 * prints "started" and sleeps 60 s, and once "started" arrives pauses the
 * vCPU, loads an empty IDT and resumes it. The next interrupt cannot be
 * delivered: #GP, #DF, triple fault, KVM_EXIT_SHUTDOWN, as after a panic
 * with reboot=t.
 *
 * Prints "crash-to-error-ms N", "agent-run: MESSAGE" and "vcpu: MESSAGE".
 * Exits 0 when the request ended with an error within 10 s of the crash
 * and the vCPU's reason names the triple fault; 1 otherwise; 2 on a setup
 * failure. */
#include "proto/client.h"
#include "util/clock.h"
#include "util/error.h"
#include "vmm/fork.h"
#include "vmm/kvm.h"
#include "vmm/virtio/vsock.h"

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define AGENT_PORT    1024
#define CRASH_CODE    "import time\nprint('started', flush=True)\ntime.sleep(60)\n"
#define ANSWER_MAX_MS 10000

struct crash {
	struct fb_vm *vm;
	int64_t crashed_ns; /* 0 until the fault was injected */
	char error[FB_ERROR_MAX];
};

/* Pause the vCPU, make every interrupt undeliverable, resume. */
static int inject_triple_fault(struct crash *c)
{
	struct kvm_sregs sregs;
	fb_vm_pause(c->vm);
	if (ioctl(c->vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return fb_error_errno("KVM_GET_SREGS");
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (ioctl(c->vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return fb_error_errno("KVM_SET_SREGS");
	c->crashed_ns = fb_clock_ns();
	return fb_vm_start(c->vm);
}

static int on_output(void *ctx, int stream, const void *data, size_t len)
{
	struct crash *c = ctx;
	if (stream != 1 || c->crashed_ns || !memmem(data, len, "started", 7))
		return 0;
	if (inject_triple_fault(c) < 0) {
		snprintf(c->error, sizeof(c->error), "inject: %s", fb_error_last());
		return 1;
	}
	return 0;
}

static int setup(const char *path, struct fb_kvm *kvm, struct fb_template **t, struct fb_vm **vm)
{
	if (fb_kvm_open(kvm) < 0 || fb_template_open(path, t) < 0 ||
	    fb_template_check_host(*t, kvm->fd) < 0)
		return -1;
	struct fb_fork_options fo = {.serial_fd = -1};
	*vm = fb_fork_create(kvm, *t, &fo);
	if (!*vm || fb_vm_start(*vm) < 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s TEMPLATE\n", argv[0]);
		return 2;
	}
	struct fb_kvm kvm = {.fd = -1};
	struct fb_template *t = NULL;
	struct crash c = {0};
	if (setup(argv[1], &kvm, &t, &c.vm) < 0) {
		fprintf(stderr, "guest-crash: %s\n", fb_error_last());
		return 2;
	}
	int fd = fb_vsock_connect(c.vm->vsock, AGENT_PORT);
	if (fd < 0) {
		fprintf(stderr, "guest-crash: %s\n", fb_error_last());
		return 2;
	}
	struct fb_agent_request req = {.code = CRASH_CODE,
				       .code_len = strlen(CRASH_CODE),
				       .time_limit_ms = 60000,
				       .host_timeout_ms = 70000};
	struct fb_agent_handlers h = {.on_output = on_output, .ctx = &c};
	struct fb_agent_outcome out;
	int rc = fb_agent_run(fd, &req, &h, &out);
	int64_t answered_ns = fb_clock_ns();
	close(fd);
	if (c.error[0]) {
		fprintf(stderr, "guest-crash: %s\n", c.error);
		return 2;
	}
	double ms = c.crashed_ns ? (double)(answered_ns - c.crashed_ns) / 1e6 : -1;
	printf("crash-to-error-ms %.0f\n", ms);
	printf("agent-run: %s\n", rc < 0 ? fb_error_last() : "completed without error");
	fb_vm_wait(c.vm, 5000);
	printf("vcpu: %s\n", fb_vm_error(c.vm));
	bool ok = c.crashed_ns && rc < 0 && ms <= ANSWER_MAX_MS && !out.host_deadline &&
		  strstr(fb_vm_error(c.vm), "triple fault");
	fb_vm_destroy(c.vm);
	fb_template_close(t);
	fb_kvm_close(&kvm);
	return ok ? 0 : 1;
}

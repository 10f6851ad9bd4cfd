/* The vCPU run loop, its thread, and stopping it from other threads. */
#include "vmm/vm.h"

#include "util/clock.h"
#include "vmm/virtio/vsock.h"
#include "vmm/vm_ports.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

/* Sent to a vCPU thread to make KVM_RUN return EINTR. */
#define KICK_SIGNAL (SIGRTMIN + 2)

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static int kick_install_errno;

static void kick_handler(int sig)
{
	(void)sig;
}

/* No SA_RESTART: the signal must interrupt KVM_RUN. */
static void install_kick_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(KICK_SIGNAL, &sa, NULL) < 0)
		kick_install_errno = errno;
}

static uint64_t vcpu_rip(struct fb_vm *vm)
{
	struct kvm_regs regs;
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0)
		return 0;
	return regs.rip;
}

static enum fb_vm_status stop_error(struct fb_vm *vm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum fb_vm_status stop_error(struct fb_vm *vm, const char *fmt, ...)
{
	char what[FB_ERROR_MAX - 32];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(vm->error, sizeof(vm->error), "%s at RIP 0x%llx", what,
		 (unsigned long long)vcpu_rip(vm));
	return FB_VM_ERROR;
}

static enum fb_vm_status guest_reset(struct fb_vm *vm, const char *how)
{
	snprintf(vm->error, sizeof(vm->error), "guest %s (%s)",
		 vm->panic_seen ? "kernel panic, then reset" : "reset", how);
	return vm->panic_seen ? FB_VM_PANIC : FB_VM_RESET;
}

static enum fb_vm_status system_event(struct fb_vm *vm)
{
	switch (vm->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		snprintf(vm->error, sizeof(vm->error), "guest powered off");
		return FB_VM_POWEROFF;
	case KVM_SYSTEM_EVENT_RESET:
		return guest_reset(vm, "KVM system event");
	case KVM_SYSTEM_EVENT_CRASH:
		snprintf(vm->error, sizeof(vm->error), "guest crashed (KVM system event)");
		return FB_VM_PANIC;
	default:
		return stop_error(vm, "KVM_EXIT_SYSTEM_EVENT type %u", vm->run->system_event.type);
	}
}

static enum fb_vm_status internal_error(struct fb_vm *vm)
{
	struct kvm_run *run = vm->run;
	char data[160] = "";
	size_t used = 0;
	for (uint32_t i = 0; i < run->internal.ndata && i < 4 && used < sizeof(data); i++)
		used += (size_t)snprintf(data + used, sizeof(data) - used, " 0x%llx",
					 (unsigned long long)run->internal.data[i]);
	return stop_error(vm, "KVM_EXIT_INTERNAL_ERROR suberror %u%s%s", run->internal.suberror,
			  used ? ", data" : "", data);
}

/* Handles one exit; returns FB_VM_NOT_RUN to keep running. */
static enum fb_vm_status handle_exit(struct fb_vm *vm)
{
	struct kvm_run *run = vm->run;
	enum fb_vm_io_result io;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		io = fb_vm_handle_io(vm);
		break;
	case KVM_EXIT_MMIO:
		io = fb_vm_handle_mmio(vm);
		break;
	case KVM_EXIT_INTR:
		return FB_VM_NOT_RUN;
	case KVM_EXIT_HLT:
		return stop_error(vm, "guest halted (KVM_EXIT_HLT)");
	case KVM_EXIT_SHUTDOWN:
		return guest_reset(vm, "triple fault, KVM_EXIT_SHUTDOWN");
	case KVM_EXIT_FAIL_ENTRY:
		return stop_error(
		    vm, "KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx",
		    (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_INTERNAL_ERROR:
		return internal_error(vm);
	case KVM_EXIT_SYSTEM_EVENT:
		return system_event(vm);
	default:
		return stop_error(vm, "unhandled KVM exit reason %u", run->exit_reason);
	}
	if (io == FB_IO_RESET)
		return guest_reset(vm, "i8042 reset");
	return io == FB_IO_ERROR ? FB_VM_ERROR : FB_VM_NOT_RUN;
}

/* Runs until a stop request or a guest/KVM event ends it. A stop request
 * is only honoured at a KVM_RUN that returned EINTR: with immediate_exit
 * set, that KVM_RUN first completed the previous exit's I/O, so the vCPU
 * state is consistent for a snapshot. */
static enum fb_vm_status run_loop(struct fb_vm *vm)
{
	int64_t t_run = fb_clock_ns(), t_exit;
	for (;;) {
		int rc = ioctl(vm->vcpu_fd, KVM_RUN, 0);
		t_exit = fb_clock_ns();
		__atomic_add_fetch(&vm->run_ns, (uint64_t)(t_exit - t_run), __ATOMIC_RELAXED);
		if (rc < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				if (atomic_load(&vm->stop_requested)) {
					snprintf(vm->error, sizeof(vm->error),
						 "stopped on request");
					return FB_VM_STOPPED;
				}
				t_run = fb_clock_ns();
				continue;
			}
			return stop_error(vm, "KVM_RUN: %s", strerror(errno));
		}
		__atomic_add_fetch(&vm->exits, 1, __ATOMIC_RELAXED);
		enum fb_vm_status st = handle_exit(vm);
		t_run = fb_clock_ns();
		__atomic_add_fetch(&vm->exit_ns, (uint64_t)(t_run - t_exit), __ATOMIC_RELAXED);
		if (st != FB_VM_NOT_RUN)
			return st;
	}
}

/* A prepared thread waits here until fb_vm_start() or a stop request. */
static bool wait_released(struct fb_vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (!vm->released && !atomic_load(&vm->stop_requested))
		pthread_cond_wait(&vm->cond, &vm->lock);
	bool go = vm->released && !atomic_load(&vm->stop_requested);
	pthread_mutex_unlock(&vm->lock);
	return go;
}

static void *vcpu_thread(void *arg)
{
	struct fb_vm *vm = arg;
	enum fb_vm_status st = FB_VM_STOPPED;
	if (wait_released(vm))
		st = run_loop(vm);
	else
		snprintf(vm->error, sizeof(vm->error), "stopped before it ran");
	pthread_mutex_lock(&vm->lock);
	vm->status = st;
	vm->running = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	/* Stopped by the guest or KVM, not on request: whoever waits on a
	 * vsock connection learns now (the reason is in vm->error). */
	if (st != FB_VM_STOPPED && vm->vsock)
		fb_vsock_guest_stopped(vm->vsock);
	return NULL;
}

int fb_vm_prepare(struct fb_vm *vm)
{
	pthread_once(&kick_once, install_kick_handler);
	if (kick_install_errno) {
		errno = kick_install_errno;
		return fb_error_errno("sigaction (vCPU kick signal)");
	}
	if (vm->thread_live)
		return fb_error("start VM: the vCPU thread is already running");
	if (vm->vsock && !vm->vsock_running) {
		if (fb_vsock_start(vm->vsock) < 0)
			return fb_error_prefix("start VM");
		vm->vsock_running = true;
	}
	atomic_store(&vm->stop_requested, false);
	vm->run->immediate_exit = 0;
	vm->status = FB_VM_NOT_RUN;
	vm->error[0] = '\0';
	vm->released = false;
	vm->running = true;
	int err = pthread_create(&vm->thread, NULL, vcpu_thread, vm);
	if (err) {
		vm->running = false;
		errno = err;
		return fb_error_errno("start VM: pthread_create");
	}
	vm->thread_live = true;
	return 0;
}

int fb_vm_start(struct fb_vm *vm)
{
	if (!vm->thread_live && fb_vm_prepare(vm) < 0)
		return -1;
	pthread_mutex_lock(&vm->lock);
	bool twice = vm->released;
	vm->released = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return twice ? fb_error("start VM: the vCPU thread is already running") : 0;
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += timeout_ms / 1000;
	ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

enum fb_vm_status fb_vm_wait(struct fb_vm *vm, int timeout_ms)
{
	if (!vm->thread_live)
		return vm->status;
	struct timespec deadline;
	if (timeout_ms >= 0)
		deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&vm->lock);
	int err = 0;
	while (vm->running && err != ETIMEDOUT)
		err = timeout_ms < 0 ? pthread_cond_wait(&vm->cond, &vm->lock)
				     : pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline);
	bool done = !vm->running;
	pthread_mutex_unlock(&vm->lock);
	if (!done)
		return FB_VM_NOT_RUN;
	pthread_join(vm->thread, NULL);
	vm->thread_live = false;
	return vm->status;
}

void fb_vm_request_stop(struct fb_vm *vm)
{
	atomic_store(&vm->stop_requested, true);
	vm->run->immediate_exit = 1;
	pthread_mutex_lock(&vm->lock);
	if (vm->thread_live && vm->running)
		pthread_kill(vm->thread, KICK_SIGNAL);
	pthread_cond_broadcast(&vm->cond); /* a parked thread */
	pthread_mutex_unlock(&vm->lock);
}

enum fb_vm_status fb_vm_pause(struct fb_vm *vm)
{
	fb_vm_request_stop(vm);
	enum fb_vm_status st = fb_vm_wait(vm, -1);
	if (vm->vsock && vm->vsock_running) {
		if (fb_vsock_pause(vm->vsock) < 0) {
			snprintf(vm->error, sizeof(vm->error), "pause vsock: %s", fb_error_last());
			return FB_VM_ERROR;
		}
		vm->vsock_running = false;
	}
	return st;
}

uint64_t fb_vm_exit_count(const struct fb_vm *vm)
{
	return __atomic_load_n(&vm->exits, __ATOMIC_RELAXED);
}

void fb_vm_run_times(const struct fb_vm *vm, uint64_t *run_ns, uint64_t *exit_ns)
{
	*run_ns = __atomic_load_n(&vm->run_ns, __ATOMIC_RELAXED);
	*exit_ns = __atomic_load_n(&vm->exit_ns, __ATOMIC_RELAXED);
}

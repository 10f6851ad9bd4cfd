/* The seccomp allowlist of a process that runs forked VMs, and the SIGSYS
 * handler that reports a violation. Like Firecracker's filters: installed
 * after setup, ioctls allowed by request number, a few calls narrowed by
 * their arguments. One table for the whole process (its threads inherit
 * it); measured with strace on the real engine behind nginx (fork, restore,
 * run loop, vsock I/O, batch threads, teardown) and the FastCGI library.
 *
 * To extend: add a row to `syscalls` (libseccomp's name for the call) or to
 * `kvm_ioctls`, and say in a comment what needs it. */
#include "vmm/seccomp.h"

#include "util/error.h"
#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* How a call's arguments are narrowed. */
enum arg_rule {
	ANY,
	NO_EXEC,     /* mmap, mprotect: never PROT_EXEC (no new code) */
	THREAD_ONLY, /* clone: CLONE_THREAD set (threads, never a new process) */
	OWN_PROCESS, /* tgkill: only threads of this process */
	UNIX_ONLY,   /* socketpair: AF_UNIX */
	FD_FLAGS,    /* fcntl: F_GETFL, F_SETFL, F_GETFD, F_SETFD */
	KVM_IOCTLS,  /* ioctl: the requests in kvm_ioctls[] */
	FAIL_ENOSYS, /* refused with ENOSYS, so that glibc falls back */
};

struct allowed_syscall {
	const char *name; /* libseccomp's name */
	enum arg_rule rule;
};

static const struct allowed_syscall syscalls[] = {
    /* Memory: guest RAM (MAP_PRIVATE of the template), kvm_run, malloc,
     * thread stacks. mremap: realloc of large output buffers. */
    {"mmap", NO_EXEC},
    {"mprotect", NO_EXEC},
    {"munmap", ANY},
    {"mremap", ANY},
    {"madvise", ANY},
    /* /v1/health and /v1/metrics: how much of the template is in RAM
     * (template_ram.c). */
    {"mincore", ANY},
    {"brk", ANY},
    /* Threads: vCPU, vsock I/O and batch helpers; glibc's pthreads. */
    {"clone", THREAD_ONLY},
    {"clone3", FAIL_ENOSYS}, /* its flags cannot be checked: glibc uses clone */
    {"set_robust_list", ANY},
    {"rseq", ANY},
    {"futex", ANY},
    {"exit", ANY},
    {"exit_group", ANY},
    {"gettid", ANY},
    {"getpid", ANY},
    {"sched_yield", ANY},
    {"sched_getaffinity", ANY}, /* malloc sizing its arenas */
    /* Signals: the vCPU kick (tgkill), stop signals, masks around accept. */
    {"rt_sigaction", ANY},
    {"rt_sigprocmask", ANY},
    {"rt_sigreturn", ANY},
    {"tgkill", OWN_PROCESS},
    {"restart_syscall", ANY},
    {"sigaltstack", ANY}, /* harmless; sanitizer builds use it as threads end */
    /* FastCGI connections (libfcgi) and the error log. */
    {"accept", ANY},
    {"accept4", ANY},
    {"shutdown", ANY},
    {"read", ANY},
    {"readv", ANY},
    {"write", ANY},
    {"writev", ANY},
    {"close", ANY},
    {"poll", ANY},
    {"ppoll", ANY},
    {"select", ANY},
    {"pselect6", ANY},
    /* vsock device: host ends of connections, the I/O thread's loop. */
    {"socketpair", UNIX_ONLY},
    {"sendto", ANY},
    {"sendmsg", ANY},
    {"recvfrom", ANY},
    {"recvmsg", ANY},
    {"fcntl", FD_FLAGS},
    {"epoll_create1", ANY},
    {"epoll_ctl", ANY},
    {"epoll_wait", ANY},
    {"epoll_pwait", ANY},
    {"eventfd2", ANY},
    /* Time (normally the vDSO), sleeps, entropy for each fork. */
    {"clock_gettime", ANY},
    {"gettimeofday", ANY},
    {"clock_nanosleep", ANY},
    {"nanosleep", ANY},
    {"getrandom", ANY},
    /* Per-execution costs: KVM's binary statistics (the stats fds) and
     * /proc/self/pagemap (opened before the filter, guest_pages.c). */
    {"pread64", ANY},
    {"lseek", ANY},
    /* Creating, restoring, running and destroying a forked VM. */
    {"ioctl", KVM_IOCTLS},
};

static const unsigned long kvm_ioctls[] = {
    /* VM and vCPU creation (vm.c). */
    KVM_CREATE_VM,
    KVM_SET_TSS_ADDR,
    KVM_SET_IDENTITY_MAP_ADDR,
    KVM_CREATE_IRQCHIP,
    KVM_CREATE_PIT2,
    KVM_SET_USER_MEMORY_REGION,
    KVM_CREATE_VCPU,
    KVM_SET_CPUID2,
    KVM_GET_LAPIC,
    KVM_SET_LAPIC,
    /* Restoring the template's state (snapshot/vm_state.c, vcpu_state.c). */
    KVM_GET_IRQCHIP,
    KVM_SET_IRQCHIP,
    KVM_SET_PIT2,
    KVM_SET_CLOCK,
    KVM_SET_SREGS,
    KVM_SET_XCRS,
    KVM_SET_XSAVE,
    KVM_SET_REGS,
    KVM_SET_MSRS,
    KVM_SET_VCPU_EVENTS,
    KVM_SET_DEBUGREGS,
    KVM_SET_MP_STATE,
    /* Running: the vCPU loop, device interrupts, RIP for error messages. */
    KVM_RUN,
    KVM_IRQ_LINE,
    KVM_GET_REGS,
    /* The ready-VM pool and per-execution costs (vm_pool.c, kvm_stats.c,
     * working_set.c): statistics fds, prefetching the working set. */
    KVM_CHECK_EXTENSION,
    KVM_GET_STATS_FD,
    KVM_PRE_FAULT_MEMORY,
};

#define N_SYSCALLS (sizeof(syscalls) / sizeof(syscalls[0]))
#define N_IOCTLS   (sizeof(kvm_ioctls) / sizeof(kvm_ioctls[0]))

/* --- reporting a violation (async-signal-safe) --------------------------- */

#define MAX_SYSCALL_NR 512

static int report_fd = -1;
/* Names resolved before the filter goes in: the handler cannot allocate. */
static char *syscall_names[MAX_SYSCALL_NR];

struct line {
	char buf[256];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = *s++;
}

static void put_bounded(struct line *l, const char *s, size_t max)
{
	for (size_t i = 0; i < max && s[i] && l->len < sizeof(l->buf) - 1; i++)
		l->buf[l->len++] = s[i] >= ' ' && s[i] < 127 ? s[i] : '?';
}

static void put_num(struct line *l, unsigned long v, unsigned base)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = "0123456789abcdef"[v % base];
	while ((v /= base) && n < (int)sizeof(digits));
	if (base == 16)
		put(l, "0x");
	while (n > 0 && l->len < sizeof(l->buf) - 1)
		l->buf[l->len++] = digits[--n];
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	const ucontext_t *uc = ctx;
	int nr = si->si_syscall;
	struct line l = {.len = 0};

	(void)sig;
	put(&l, "forkbox: seccomp: pid ");
	put_num(&l, (unsigned long)getpid(), 10);
	put(&l, ": forbidden system call ");
	put(&l, nr >= 0 && nr < MAX_SYSCALL_NR && syscall_names[nr] ? syscall_names[nr] : "?");
	put(&l, " (");
	put_num(&l, (unsigned long)(unsigned)nr, 10);
	put(&l, ")");
	if (nr == SCMP_SYS(ioctl)) {
		put(&l, ", request ");
		put_num(&l, (unsigned long)uc->uc_mcontext.gregs[REG_RSI] & 0xffffffffu, 16);
	}
	/* The file a library tried to open lazily says which one. */
	const char *path = nr == SCMP_SYS(openat) ? (const char *)uc->uc_mcontext.gregs[REG_RSI]
			   : nr == SCMP_SYS(open) ? (const char *)uc->uc_mcontext.gregs[REG_RDI]
						  : NULL;
	if (path) {
		put(&l, ", path ");
		put_bounded(&l, path, 96);
	}
	put(&l, "; the process exits\n");
	if (report_fd >= 0 && write(report_fd, l.buf, l.len) < 0)
		l.len = 0; /* nowhere left to say it */
	/* Not _exit(): a sanitizer's interceptor of it would run leak checks,
	 * which need more system calls. */
	syscall(SYS_exit_group, FB_SECCOMP_EXIT_STATUS);
}

static int install_reporter(int fd)
{
	struct sigaction sa;

	for (int nr = 0; nr < MAX_SYSCALL_NR; nr++)
		if (!syscall_names[nr])
			syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	report_fd = fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		return fb_error_errno("seccomp: sigaction(SIGSYS)");
	sigset_t sys;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	return pthread_sigmask(SIG_UNBLOCK, &sys, NULL) ? fb_error("seccomp: unblock SIGSYS") : 0;
}

/* --- building the filter -------------------------------------------------- */

static int add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
	       const struct scmp_arg_cmp *cmp)
{
	return seccomp_rule_add_array(ctx, action, nr, n, cmp);
}

static int add_kvm_ioctls(scmp_filter_ctx ctx, int nr)
{
	for (size_t i = 0; i < N_IOCTLS; i++) {
		/* The kernel takes the request as an unsigned int. */
		struct scmp_arg_cmp req =
		    SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, kvm_ioctls[i] & 0xffffffffu);
		int rc = add(ctx, SCMP_ACT_ALLOW, nr, 1, &req);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_fd_flags(scmp_filter_ctx ctx, int nr)
{
	static const int cmds[] = {F_GETFL, F_SETFL, F_GETFD, F_SETFD};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct scmp_arg_cmp cmd = SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)cmds[i]);
		int rc = add(ctx, SCMP_ACT_ALLOW, nr, 1, &cmd);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* 0 or a negative errno, as libseccomp returns. */
static int add_rule(scmp_filter_ctx ctx, int nr, enum arg_rule rule)
{
	struct scmp_arg_cmp cmp;

	switch (rule) {
	case ANY:
		return add(ctx, SCMP_ACT_ALLOW, nr, 0, NULL);
	case NO_EXEC:
		cmp = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
		return add(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
	case THREAD_ONLY:
		cmp = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
		return add(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
	case OWN_PROCESS:
		cmp = SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid());
		return add(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
	case UNIX_ONLY:
		cmp = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
		return add(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
	case FD_FLAGS:
		return add_fd_flags(ctx, nr);
	case KVM_IOCTLS:
		return add_kvm_ioctls(ctx, nr);
	case FAIL_ENOSYS:
		return add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0, NULL);
	}
	return -EINVAL;
}

static int build(scmp_filter_ctx ctx)
{
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);

	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (rc < 0) {
		errno = -rc;
		return fb_error_errno("seccomp: filter attributes");
	}
	for (size_t i = 0; i < N_SYSCALLS; i++) {
		int nr = seccomp_syscall_resolve_name(syscalls[i].name);
		if (nr == __NR_SCMP_ERROR)
			return fb_error("seccomp: unknown system call '%s'", syscalls[i].name);
		rc = add_rule(ctx, nr, syscalls[i].rule);
		if (rc < 0) {
			errno = -rc;
			return fb_error_errno("seccomp: allow %s", syscalls[i].name);
		}
	}
	return 0;
}

int fb_seccomp_install(const struct fb_seccomp_options *opts)
{
	if (opts->mode == FB_SECCOMP_OFF)
		return 0;
	bool enforce = opts->mode == FB_SECCOMP_ENFORCE;
	if (enforce && install_reporter(opts->report_fd))
		return -1;
	scmp_filter_ctx ctx = seccomp_init(enforce ? SCMP_ACT_TRAP : SCMP_ACT_LOG);
	if (!ctx)
		return fb_error("seccomp: seccomp_init failed");
	int rc = build(ctx);
	if (rc == 0) {
		rc = seccomp_load(ctx);
		if (rc < 0) {
			errno = -rc;
			rc = fb_error_errno("seccomp: load the filter");
		}
	}
	seccomp_release(ctx);
	return rc;
}

const char *fb_seccomp_mode_name(enum fb_seccomp_mode mode)
{
	switch (mode) {
	case FB_SECCOMP_OFF:
		return "off";
	case FB_SECCOMP_LOG:
		return "log";
	case FB_SECCOMP_ENFORCE:
		return "enforce";
	}
	return "?";
}

/* The worker seccomp filter (src/vmm/seccomp.c): each case runs in a child
 * process that installs it, then makes allowed and forbidden calls; the
 * parent checks how the child ended and what it reported. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/kvm.h>

#include "util/error.h"
#include "vmm/seccomp.h"

struct outcome {
	int status;	  /* from waitpid */
	char report[512]; /* what the filter's SIGSYS handler wrote */
};

/* Run body in a child under the filter in mode; the child exits with
 * body's return value unless the filter stops it first. */
static void run_confined(enum fb_seccomp_mode mode, int (*body)(void), struct outcome *o)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		struct fb_seccomp_options so = {.mode = mode, .report_fd = fds[1]};
		if (fb_seccomp_install(&so)) {
			dprintf(fds[1], "install failed: %s", fb_error_last());
			_exit(100);
		}
		_exit(body());
	}
	close(fds[1]);
	memset(o, 0, sizeof(*o));
	ssize_t n, used = 0;
	while ((n = read(fds[0], o->report + used, sizeof(o->report) - 1 - (size_t)used)) > 0)
		used += n;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &o->status, 0), pid);
}

static void assert_exit(const struct outcome *o, int code)
{
	if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) != code)
		fail_msg("child status 0x%x, want exit %d; report: %s", o->status, code, o->report);
}

static void assert_stopped_by_filter(const struct outcome *o, const char *what)
{
	assert_exit(o, FB_SECCOMP_EXIT_STATUS);
	if (!strstr(o->report, what))
		fail_msg("report \"%s\" does not name \"%s\"", o->report, what);
}

static void *thread_body(void *arg)
{
	return arg;
}

/* What a worker does while serving: threads, memory, pipes, sleeps, an
 * allowed KVM ioctl (refused by the kernel on a pipe, not by the filter). */
static int allowed_calls(void)
{
	pthread_t t;
	int fds[2];
	void *ret = NULL;

	if (pthread_create(&t, NULL, thread_body, (void *)7) || pthread_join(t, &ret) ||
	    ret != (void *)7)
		return 1;
	void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || munmap(p, 1 << 20))
		return 2;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) || write(fds[0], "x", 1) != 1)
		return 3;
	if (ioctl(fds[0], KVM_RUN, 0) != -1 || errno != ENOTTY)
		return 4;
	usleep(1000);
	return getpid() > 0 ? 0 : 5;
}

static int open_inet_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	return fd >= 0 ? 0 : 6;
}

static int terminal_injection(void)
{
	char c = 'x';

	ioctl(STDIN_FILENO, TIOCSTI, &c);
	return 8;
}

static int open_file(void)
{
	int fd = open("/etc/hostname", O_RDONLY);
	return fd >= 0 ? 13 : 14;
}

static int new_process(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	return 9;
}

static int executable_memory(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 10;
}

static pid_t parent; /* set before the filter: getppid is not allowed */

static int signal_other_process(void)
{
	syscall(SYS_tgkill, parent, parent, 0);
	return 11;
}

static int run_program(void)
{
	char *argv[] = {"/bin/true", NULL};
	execv(argv[0], argv);
	return 12;
}

static void test_allowed_calls_work(void **state)
{
	struct outcome o;
	(void)state;
	run_confined(FB_SECCOMP_ENFORCE, allowed_calls, &o);
	assert_exit(&o, 0);
	assert_string_equal(o.report, "");
}

static void test_forbidden_syscall_stops_the_process(void **state)
{
	struct outcome o;
	(void)state;
	run_confined(FB_SECCOMP_ENFORCE, open_inet_socket, &o);
	assert_stopped_by_filter(&o, "forbidden system call socket (41)");
}

static void test_forbidden_ioctl_is_named(void **state)
{
	struct outcome o;
	(void)state;
	run_confined(FB_SECCOMP_ENFORCE, terminal_injection, &o);
	assert_stopped_by_filter(&o, "forbidden system call ioctl (16), request 0x5412");
}

static void test_narrowed_calls(void **state)
{
	struct outcome o;
	(void)state;
	run_confined(FB_SECCOMP_ENFORCE, new_process, &o);
	assert_stopped_by_filter(&o, "forbidden system call clone");
	run_confined(FB_SECCOMP_ENFORCE, executable_memory, &o);
	assert_stopped_by_filter(&o, "forbidden system call mmap");
	parent = getpid();
	run_confined(FB_SECCOMP_ENFORCE, signal_other_process, &o);
	assert_stopped_by_filter(&o, "forbidden system call tgkill");
	run_confined(FB_SECCOMP_ENFORCE, run_program, &o);
	assert_stopped_by_filter(&o, "forbidden system call execve");
	run_confined(FB_SECCOMP_ENFORCE, open_file, &o);
	assert_stopped_by_filter(&o, "forbidden system call openat (257), path /etc/hostname;");
}

/* "log" and "off" let the same call through. */
static void test_log_and_off_allow(void **state)
{
	struct outcome o;
	(void)state;
	run_confined(FB_SECCOMP_LOG, open_inet_socket, &o);
	assert_exit(&o, 0);
	run_confined(FB_SECCOMP_LOG, allowed_calls, &o);
	assert_exit(&o, 0);
	run_confined(FB_SECCOMP_OFF, open_inet_socket, &o);
	assert_exit(&o, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_allowed_calls_work),
	    cmocka_unit_test(test_forbidden_syscall_stops_the_process),
	    cmocka_unit_test(test_forbidden_ioctl_is_named),
	    cmocka_unit_test(test_narrowed_calls),
	    cmocka_unit_test(test_log_and_off_allow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

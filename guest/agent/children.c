#include "children.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int sigchld_pipe[2] = {-1, -1};
static pid_t reaped_pid = -1;
static int reaped_status;

static void on_sigchld(int sig)
{
	(void)sig;
	int saved = errno;
	char byte = 0;
	/* A full pipe already holds a wake-up; nothing is lost by failing. */
	if (write(sigchld_pipe[1], &byte, 1) < 0)
		errno = saved;
	errno = saved;
}

int children_init(void)
{
	if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return fb_error_errno("pipe2 (SIGCHLD)");
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		return fb_error_errno("sigaction SIGCHLD");
	return 0;
}

int children_fd(void)
{
	return sigchld_pipe[0];
}

static void drain_wakeups(void)
{
	char buf[64];
	while (read(sigchld_pipe[0], buf, sizeof(buf)) > 0)
		;
}

bool children_reap(pid_t watched, int *status)
{
	drain_wakeups();
	for (;;) {
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0)
			break;
		if (pid == watched) {
			reaped_pid = pid;
			reaped_status = st;
		}
	}
	if (watched <= 0 || reaped_pid != watched)
		return false;
	*status = reaped_status;
	return true;
}

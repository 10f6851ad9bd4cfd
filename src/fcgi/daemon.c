/* Classic double-fork daemonization and the pid file. */
#include "fcgi/daemon.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fork_and_exit_parent(void)
{
	pid_t pid = fork();

	if (pid < 0)
		return fb_error_errno("fork (daemonize)");
	if (pid > 0)
		_exit(0);
	return 0;
}

int fb_daemonize(bool keep_stderr)
{
	if (fork_and_exit_parent())
		return -1;
	if (setsid() < 0)
		return fb_error_errno("setsid");
	if (fork_and_exit_parent())
		return -1;
	if (chdir("/"))
		return fb_error_errno("chdir /");
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return fb_error_errno("open /dev/null");
	if (dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    (!keep_stderr && dup2(null, STDERR_FILENO) < 0))
		return fb_error_errno("dup2 /dev/null");
	close(null);
	return 0;
}

static bool pidfile_in_use(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;

	if (!f)
		return false;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int fb_pidfile_write(const char *path)
{
	char text[32];

	if (!path || !*path)
		return 0;
	if (pidfile_in_use(path))
		return fb_error("pid file %s names a running process: already running?", path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fb_error_errno("open pid file %s", path);
	int len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	ssize_t n = write(fd, text, (size_t)len);
	int rc = n == len ? 0 : fb_error_errno("write pid file %s", path);
	close(fd);
	return rc;
}

void fb_pidfile_remove(const char *path)
{
	if (path && *path)
		unlink(path);
}

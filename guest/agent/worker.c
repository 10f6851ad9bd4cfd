#include "worker.h"

#include "sandbox.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { CHILD_JOB_FD = 3, CHILD_STATUS_FD, CHILD_STDOUT_FD, CHILD_STDERR_FD, CHILD_FD_COUNT = 4 };
#define PIPE_BYTES (1 << 20)

/* Node's worker cannot dup2(): it gets /dev/null and the output pipes as
 * fds 0-2 from the start. */
static int stdio_to_pipes(void)
{
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(CHILD_STDOUT_FD, 1) < 0 ||
	    dup2(CHILD_STDERR_FD, 2) < 0)
		return -1;
	close(null);
	close(CHILD_STDOUT_FD);
	close(CHILD_STDERR_FD);
	return 0;
}

/* In the forked child: move the worker's pipe ends to fds 3..6, drop to the
 * sandbox user (if any) and exec. */
static void __attribute__((noreturn))
exec_worker(const int child_fds[CHILD_FD_COUNT], const struct worker_spec *spec)
{
	int high[CHILD_FD_COUNT];
	/* Dup above the targets first so no dup2() clobbers a source fd. */
	for (int i = 0; i < CHILD_FD_COUNT; i++) {
		high[i] = fcntl(child_fds[i], F_DUPFD_CLOEXEC, 16);
		if (high[i] < 0)
			_exit(127);
	}
	for (int i = 0; i < CHILD_FD_COUNT; i++) {
		if (dup2(high[i], CHILD_JOB_FD + i) < 0)
			_exit(127);
	}
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (spec->user && sandbox_enter(spec->user, spec->max_processes) < 0) {
		dprintf(STDERR_FILENO, "forkbox-agent: %s\n", fb_error_last());
		_exit(127);
	}
	if (spec->runtime == RUNTIME_NODE) {
		if (stdio_to_pipes() < 0)
			_exit(127);
		execl(spec->interpreter, spec->interpreter, spec->script, (char *)NULL);
	} else {
		execl(spec->interpreter, spec->interpreter, "-s", spec->script, (char *)NULL);
	}
	dprintf(STDERR_FILENO, "forkbox-agent: exec %s: %s\n", spec->interpreter, strerror(errno));
	_exit(127);
}

static void close_pair(int pair[2])
{
	for (int i = 0; i < 2; i++) {
		if (pair[i] >= 0)
			close(pair[i]);
		pair[i] = -1;
	}
}

int worker_spawn(struct agent_worker *w, const struct worker_spec *spec)
{
	int pipes[CHILD_FD_COUNT][2];
	for (int i = 0; i < CHILD_FD_COUNT; i++)
		pipes[i][0] = pipes[i][1] = -1;
	for (int i = 0; i < CHILD_FD_COUNT; i++) {
		if (pipe2(pipes[i], O_CLOEXEC) < 0) {
			fb_error_errno("pipe2 (worker)");
			goto fail;
		}
	}
	/* Bigger output pipes mean fewer wake-ups; the default size also works. */
	fcntl(pipes[2][0], F_SETPIPE_SZ, PIPE_BYTES);
	fcntl(pipes[3][0], F_SETPIPE_SZ, PIPE_BYTES);
	/* The child gets: job read end, status write end, stdout/stderr write ends. */
	int child_fds[CHILD_FD_COUNT] = {pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1]};
	pid_t pid = fork();
	if (pid < 0) {
		fb_error_errno("fork (worker)");
		goto fail;
	}
	if (pid == 0)
		exec_worker(child_fds, spec);
	for (int i = 0; i < CHILD_FD_COUNT; i++)
		close(child_fds[i]);
	w->pid = pid;
	w->job_fd = pipes[0][1];
	w->status_fd = pipes[1][0];
	w->stdout_fd = pipes[2][0];
	w->stderr_fd = pipes[3][0];
	if (fcntl(w->stdout_fd, F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(w->stderr_fd, F_SETFL, O_NONBLOCK) < 0)
		return fb_error_errno("fcntl O_NONBLOCK (worker output)");
	return 0;
fail:
	for (int i = 0; i < CHILD_FD_COUNT; i++)
		close_pair(pipes[i]);
	return -1;
}

int worker_wait_ready(struct agent_worker *w, int timeout_ms)
{
	static const char expected[] = "ready\n";
	char got[sizeof(expected)];
	size_t len = 0;
	while (len < sizeof(expected) - 1) {
		struct pollfd pfd = {.fd = w->status_fd, .events = POLLIN};
		int n = poll(&pfd, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fb_error_errno("poll (worker status)");
		if (n == 0)
			return fb_error("worker not ready after %d ms", timeout_ms);
		ssize_t r = read(w->status_fd, got + len, sizeof(expected) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fb_error_errno("read (worker status)");
		if (r == 0)
			return fb_error("worker exited before it was ready");
		len += (size_t)r;
	}
	if (memcmp(got, expected, sizeof(expected) - 1) != 0)
		return fb_error("worker sent an unexpected status instead of \"ready\"");
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fb_error_errno("write (worker job)");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int worker_send_job(struct agent_worker *w, const void *seed, size_t seed_len, const void *code,
		    size_t code_len)
{
	if (seed_len > UINT32_MAX || code_len > UINT32_MAX)
		return fb_error("worker job too large");
	uint8_t header[12];
	memcpy(header, WORKER_JOB_MAGIC, 4);
	put_le32(header + 4, (uint32_t)seed_len);
	put_le32(header + 8, (uint32_t)code_len);
	if (write_all(w->job_fd, header, sizeof(header)) < 0 ||
	    write_all(w->job_fd, seed, seed_len) < 0 || write_all(w->job_fd, code, code_len) < 0)
		return -1;
	/* EOF after the job: the worker never reads another. */
	close(w->job_fd);
	w->job_fd = -1;
	return 0;
}

void worker_drain_output(struct agent_worker *w)
{
	static const char *const names[] = {"stdout", "stderr"};
	int fds[] = {w->stdout_fd, w->stderr_fd};
	char buf[4096];
	for (int i = 0; i < 2; i++) {
		ssize_t n;
		while (fds[i] >= 0 && (n = read(fds[i], buf, sizeof(buf))) > 0)
			dprintf(STDERR_FILENO, "forkbox-agent: worker %s before the job: %.*s%s",
				names[i], (int)n, buf, buf[n - 1] == '\n' ? "" : "\n");
	}
}

void worker_close(struct agent_worker *w)
{
	int *fds[] = {&w->job_fd, &w->status_fd, &w->stdout_fd, &w->stderr_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

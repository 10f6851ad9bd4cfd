#include "pump.h"

#include "children.h"
#include "oom.h"

#include "proto/frame.h"

#include "util/clock.h"
#include "util/error.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	  FB_PROTO_MAX_OUTPUT_CHUNK
#define QUEUE_CAP (4 * (FB_FRAME_HEADER_SIZE + CHUNK))
/* After the worker exits, processes it left behind may hold the output
 * pipes open: wait this long, kill them, wait again, then stop reading. */
#define STRAGGLER_GRACE_NS (200 * 1000000LL)
/* The agent's own note to the user's stderr (out of memory), and the room
 * the end of the run needs in the queue: that note and the EXIT frame. */
#define NOTE_MAX 512
#define END_ROOM (2 * FB_FRAME_HEADER_SIZE + NOTE_MAX + FB_PROTO_EXIT_LEN)

struct pump {
	int conn;
	struct agent_worker *w;
	const struct pump_job *job;
	uint8_t *queue; /* frames waiting for the host: [head, tail) */
	size_t head, tail;
	int pipes[2];  /* stdout, stderr read ends; -1 once at EOF */
	int status_fd; /* the worker's "exit N" report; -1 once read or closed */
	bool reaped, timed_out, exit_queued;
	int status;
	int64_t reaped_ns, stragglers_killed_ns;
};

static void kill_job(struct pump *p)
{
	kill(-p->w->pid, SIGKILL);
	/* As PID 1, kill(-1) reaches every other process of the guest. */
	if (p->job->kill_all)
		kill(-1, SIGKILL);
}

static size_t queue_room(struct pump *p)
{
	if (p->head == p->tail)
		p->head = p->tail = 0;
	if (p->head > 0 && QUEUE_CAP - p->tail < FB_FRAME_HEADER_SIZE + CHUNK) {
		memmove(p->queue, p->queue + p->head, p->tail - p->head);
		p->tail -= p->head;
		p->head = 0;
	}
	return QUEUE_CAP - p->tail;
}

/* Read what one pipe has into a STDOUT/STDERR frame at the end of the queue. */
static int read_pipe(struct pump *p, int which)
{
	size_t room = queue_room(p);
	if (room <= FB_FRAME_HEADER_SIZE)
		return 0;
	size_t max = room - FB_FRAME_HEADER_SIZE;
	if (max > CHUNK)
		max = CHUNK;
	uint8_t *frame = p->queue + p->tail;
	ssize_t n = read(p->pipes[which], frame + FB_FRAME_HEADER_SIZE, max);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n < 0)
		return fb_error_errno("read worker %s", which == 0 ? "stdout" : "stderr");
	if (n == 0) {
		p->pipes[which] = -1; /* stays open for the agent's lifetime, unused */
		return 0;
	}
	fb_frame_header_encode(frame, which == 0 ? FB_FRAME_STDOUT : FB_FRAME_STDERR, (uint32_t)n);
	p->tail += FB_FRAME_HEADER_SIZE + (size_t)n;
	return 0;
}

static int flush_queue(struct pump *p)
{
	while (p->head < p->tail) {
		ssize_t n = send(p->conn, p->queue + p->head, p->tail - p->head,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0)
			return fb_error_errno("send to host");
		p->head += (size_t)n;
	}
	return 0;
}

/* Why the code was killed, if the kernel ran out of memory for it. */
static void queue_oom_note(struct pump *p)
{
	char note[NOTE_MAX];
	bool killed = WIFSIGNALED(p->status) && WTERMSIG(p->status) == SIGKILL && !p->timed_out;
	size_t len = oom_watch_note(p->w->pid, killed, note, sizeof(note));
	if (len == 0)
		return;
	fb_frame_header_encode(p->queue + p->tail, FB_FRAME_STDERR, (uint32_t)len);
	memcpy(p->queue + p->tail + FB_FRAME_HEADER_SIZE, note, len);
	p->tail += FB_FRAME_HEADER_SIZE + len;
}

/* Called with at least END_ROOM free in the queue. */
static void queue_exit(struct pump *p)
{
	struct fb_exit_info x = {.flags = p->timed_out ? FB_EXIT_TIMED_OUT : 0};
	if (WIFSIGNALED(p->status)) {
		x.term_signal = WTERMSIG(p->status);
		x.exit_code = 128 + x.term_signal;
	} else {
		x.exit_code = WEXITSTATUS(p->status);
	}
	int64_t run = p->reaped_ns - p->job->start_ns;
	x.run_time_ns = run > 0 ? (uint64_t)run : 0;
	queue_oom_note(p);
	fb_frame_header_encode(p->queue + p->tail, FB_FRAME_EXIT, FB_PROTO_EXIT_LEN);
	fb_exit_encode(p->queue + p->tail + FB_FRAME_HEADER_SIZE, &x);
	p->tail += FB_FRAME_HEADER_SIZE + FB_PROTO_EXIT_LEN;
	p->exit_queued = true;
}

/* The worker's report "exit N\n" on the status pipe counts as its exit: it
 * stops after sending it instead of tearing down its address space on the
 * request's path (worker.py leave()). Anything else on the pipe is
 * ignored; the worker is then reaped as usual. */
static void read_report(struct pump *p)
{
	char line[16];
	ssize_t n = read(p->status_fd, line, sizeof(line) - 1);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	p->status_fd = -1; /* one report; EOF or an error ends it too */
	if (n <= 0 || p->reaped)
		return;
	line[n] = '\0';
	char *end;
	long code = strncmp(line, "exit ", 5) == 0 ? strtol(line + 5, &end, 10) : -1;
	if (code < 0 || code > 255 || strcmp(end, "\n") != 0)
		return;
	p->status = (int)code << 8; /* as waitpid() reports an exit */
	p->reaped = true;
	p->reaped_ns = fb_clock_ns();
}

/* Time limit, reaping and leftover processes; returns the poll timeout. */
static int advance_state(struct pump *p)
{
	int64_t now = fb_clock_ns();
	int64_t wake = -1;
	if (!p->reaped && children_reap(p->w->pid, &p->status)) {
		p->reaped = true;
		p->reaped_ns = now;
	} else if (p->reaped) {
		children_reap(-1, &p->status);
	}
	if (!p->reaped) {
		int64_t limit = p->job->start_ns + (int64_t)p->job->time_limit_ms * 1000000;
		if (!p->timed_out && now >= limit) {
			kill_job(p);
			p->timed_out = true;
		}
		wake = p->timed_out ? -1 : limit;
	} else if (p->pipes[0] >= 0 || p->pipes[1] >= 0) {
		if (!p->stragglers_killed_ns && now >= p->reaped_ns + STRAGGLER_GRACE_NS) {
			kill_job(p);
			p->stragglers_killed_ns = now;
		} else if (p->stragglers_killed_ns &&
			   now >= p->stragglers_killed_ns + STRAGGLER_GRACE_NS) {
			p->pipes[0] = p->pipes[1] = -1; /* give up on them */
		}
		wake = (p->stragglers_killed_ns ? p->stragglers_killed_ns : p->reaped_ns) +
		       STRAGGLER_GRACE_NS;
	}
	/* Without the room, the host must read first (POLLOUT, then again). */
	if (p->reaped && p->pipes[0] < 0 && p->pipes[1] < 0 && !p->exit_queued &&
	    queue_room(p) >= END_ROOM)
		queue_exit(p);
	if (wake < 0)
		return -1;
	return wake <= now ? 0 : (int)((wake - now + 999999) / 1000000);
}

/* The host sends nothing after its request: data or hang-up ends the job. */
static int check_host(struct pump *p, short revents)
{
	if (revents & (POLLERR | POLLHUP))
		return fb_error("host closed the connection");
	if (!(revents & POLLIN))
		return 0;
	uint8_t byte;
	ssize_t n = recv(p->conn, &byte, 1, MSG_DONTWAIT);
	if (n == 0)
		return fb_error("host closed the connection");
	if (n > 0)
		return fb_error("host sent data after its request");
	return (errno == EAGAIN || errno == EINTR) ? 0 : fb_error_errno("recv from host");
}

static int pump_step(struct pump *p)
{
	int timeout = advance_state(p);
	if (p->exit_queued && p->head == p->tail)
		return 1;
	bool room = queue_room(p) >= FB_FRAME_HEADER_SIZE + 4096;
	struct pollfd pfds[5] = {
	    {.fd = p->conn, .events = POLLIN | (p->head < p->tail ? POLLOUT : 0)},
	    {.fd = children_fd(), .events = POLLIN},
	    {.fd = room ? p->pipes[0] : -1, .events = POLLIN},
	    {.fd = room ? p->pipes[1] : -1, .events = POLLIN},
	    {.fd = p->status_fd, .events = POLLIN},
	};
	if (poll(pfds, 5, timeout) < 0)
		return errno == EINTR ? 0 : fb_error_errno("poll (job)");
	if (check_host(p, pfds[0].revents) < 0)
		return -1;
	if (pfds[4].revents)
		read_report(p);
	for (int i = 0; i < 2; i++) {
		if (pfds[2 + i].revents && read_pipe(p, i) < 0)
			return -1;
	}
	if (pfds[0].revents & POLLOUT)
		return flush_queue(p);
	return 0;
}

int pump_run(int conn, struct agent_worker *w, const struct pump_job *job)
{
	struct pump p = {.conn = conn, .w = w, .job = job};
	p.pipes[0] = w->stdout_fd;
	p.pipes[1] = w->stderr_fd;
	p.status_fd = w->status_fd;
	p.queue = malloc(QUEUE_CAP);
	if (!p.queue)
		return fb_error_errno("allocate output queue");
	int r;
	while ((r = pump_step(&p)) == 0)
		;
	free(p.queue);
	if (r < 0 && !p.reaped)
		kill_job(&p);
	return r < 0 ? -1 : 0;
}

#include "proto/client.h"

#include "proto/reader.h"

#include "util/clock.h"
#include "util/error.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#define DEFAULT_HOST_MARGIN_MS 2000

enum io_result { IO_OK, IO_DEADLINE, IO_PEER_GONE, IO_FAILED, IO_CANCELLED };

struct client_run {
	int fd;
	int64_t deadline_ns; /* CLOCK_MONOTONIC */
	const struct fb_agent_request *req;
	const struct fb_agent_handlers *h;
	struct fb_agent_outcome *out;
	size_t delivered;
	bool finished;
	int64_t next_cancel_check_ns;
};

/* Whether the caller gave up on the run; asks it at most every
 * FB_AGENT_CANCEL_CHECK_MS. */
static bool cancelled(struct client_run *c, int64_t now)
{
	if (!c->h || !c->h->cancelled || now < c->next_cancel_check_ns)
		return false;
	c->next_cancel_check_ns = now + FB_AGENT_CANCEL_CHECK_MS * 1000000LL;
	return c->h->cancelled(c->h->ctx);
}

/* Wait for `events` on the socket until the deadline. */
static enum io_result wait_socket(struct client_run *c, short events)
{
	for (;;) {
		int64_t now = fb_clock_ns(), left_ns = c->deadline_ns - now;
		if (left_ns <= 0)
			return IO_DEADLINE;
		if (cancelled(c, now))
			return IO_CANCELLED;
		if (c->h && c->h->cancelled && left_ns > FB_AGENT_CANCEL_CHECK_MS * 1000000LL)
			left_ns = FB_AGENT_CANCEL_CHECK_MS * 1000000LL;
		struct pollfd pfd = {.fd = c->fd, .events = events};
		int n = poll(&pfd, 1, fb_clock_poll_ms(left_ns));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fb_error_errno("poll (agent connection)");
			return IO_FAILED;
		}
		if (n > 0)
			return IO_OK;
	}
}

static enum io_result send_all(struct client_run *c, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return IO_PEER_GONE;
		if (errno != EAGAIN && errno != EINTR) {
			fb_error_errno("send to agent");
			return IO_FAILED;
		}
		enum io_result r = wait_socket(c, POLLOUT);
		if (r != IO_OK)
			return r;
	}
	return IO_OK;
}

static int build_exec(const struct fb_agent_request *req, uint8_t *frame, size_t cap)
{
	struct fb_exec_header e;
	memset(&e, 0, sizeof(e));
	ssize_t got = getrandom(e.entropy, sizeof(e.entropy), 0);
	if (got != (ssize_t)sizeof(e.entropy))
		return fb_error_errno("getrandom (request entropy)");
	struct timespec now;
	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return fb_error_errno("clock_gettime CLOCK_REALTIME");
	e.realtime_sec = now.tv_sec;
	e.realtime_nsec = (uint32_t)now.tv_nsec;
	e.time_limit_ms = req->time_limit_ms;
	e.code_len = (uint32_t)req->code_len;
	const char *lang = req->language ? req->language : "python";
	if (strlen(lang) > FB_PROTO_MAX_LANGUAGE)
		return fb_error("language name too long");
	strcpy(e.language, lang);
	int len = fb_exec_encode(frame + FB_FRAME_HEADER_SIZE, cap - FB_FRAME_HEADER_SIZE, &e);
	if (len < 0)
		return -1;
	fb_frame_header_encode(frame, FB_FRAME_EXEC, (uint32_t)len);
	return (int)FB_FRAME_HEADER_SIZE + len;
}

/* EXEC, then the code in CODE frames sent straight from the caller's buffer. */
static enum io_result send_request(struct client_run *c)
{
	uint8_t exec[FB_FRAME_HEADER_SIZE + FB_PROTO_EXEC_FIXED + FB_PROTO_MAX_LANGUAGE];
	int len = build_exec(c->req, exec, sizeof(exec));
	if (len < 0)
		return IO_FAILED;
	enum io_result r = send_all(c, exec, (size_t)len);
	for (size_t off = 0; r == IO_OK && off < c->req->code_len;) {
		size_t chunk = c->req->code_len - off;
		if (chunk > FB_PROTO_MAX_CODE_CHUNK)
			chunk = FB_PROTO_MAX_CODE_CHUNK;
		uint8_t hdr[FB_FRAME_HEADER_SIZE];
		fb_frame_header_encode(hdr, FB_FRAME_CODE, (uint32_t)chunk);
		r = send_all(c, hdr, sizeof(hdr));
		if (r == IO_OK)
			r = send_all(c, c->req->code + off, chunk);
		off += chunk;
	}
	return r;
}

static int deliver_output(struct client_run *c, int stream, const uint8_t *data, size_t len)
{
	if (stream == 1)
		c->out->stdout_bytes += len;
	else
		c->out->stderr_bytes += len;
	size_t limit = c->req->output_limit;
	if (limit != 0 && c->delivered + len > limit) {
		c->out->truncated = true;
		len = limit - c->delivered;
	}
	c->delivered += len;
	if (len == 0 || !c->h || !c->h->on_output)
		return 0;
	if (c->h->on_output(c->h->ctx, stream, data, len) != 0)
		return fb_error("output consumer aborted the run");
	return 0;
}

static int handle_frame(struct client_run *c, const struct fb_frame_header *fh,
			const uint8_t *payload)
{
	struct fb_exit_info x;
	switch (fh->type) {
	case FB_FRAME_STDOUT:
		return deliver_output(c, 1, payload, fh->len);
	case FB_FRAME_STDERR:
		return deliver_output(c, 2, payload, fh->len);
	case FB_FRAME_EXIT:
		if (fb_exit_decode(payload, fh->len, &x) < 0)
			return -1;
		c->out->exit_code = x.exit_code;
		c->out->term_signal = x.term_signal;
		c->out->timed_out = (x.flags & FB_EXIT_TIMED_OUT) != 0;
		c->out->guest_run_time_ns = x.run_time_ns;
		c->finished = true;
		return 0;
	case FB_FRAME_ERROR:
		if (fb_error_msg_decode(payload, fh->len, c->out->agent_error,
					sizeof(c->out->agent_error)) < 0)
			return -1;
		return fb_error("agent: %s", c->out->agent_error);
	default:
		return fb_error("unexpected frame type %u", fh->type);
	}
}

static enum io_result receive_frames(struct client_run *c, struct fb_frame_reader *rd)
{
	for (;;) {
		struct fb_frame_header fh;
		const uint8_t *payload;
		int got;
		while ((got = fb_reader_next(rd, &fh, &payload)) == 1) {
			if (handle_frame(c, &fh, payload) < 0)
				return IO_FAILED;
			if (c->finished)
				return IO_OK;
		}
		if (got < 0)
			return IO_FAILED;
		enum io_result r = wait_socket(c, POLLIN);
		if (r != IO_OK)
			return r;
		ssize_t n = fb_reader_fill(rd, c->fd);
		if (n == 0)
			return IO_PEER_GONE;
		if (n < 0 && errno == ECONNRESET)
			return IO_PEER_GONE;
		if (n < 0 && errno != EAGAIN)
			return IO_FAILED;
	}
}

static void set_host_deadline(struct fb_agent_outcome *out)
{
	out->host_deadline = true;
	out->timed_out = true;
	out->exit_code = 128 + 9;
	out->term_signal = 9;
}

int fb_agent_run(int fd, const struct fb_agent_request *req, const struct fb_agent_handlers *h,
		 struct fb_agent_outcome *out)
{
	memset(out, 0, sizeof(*out));
	if (req->code_len > FB_PROTO_MAX_CODE || (req->code_len > 0 && !req->code))
		return fb_error("agent request: code of %zu bytes is invalid", req->code_len);
	uint64_t timeout_ms = req->host_timeout_ms
				  ? req->host_timeout_ms
				  : (uint64_t)req->time_limit_ms + DEFAULT_HOST_MARGIN_MS;
	struct client_run c = {.fd = fd, .req = req, .h = h, .out = out};
	c.deadline_ns = fb_clock_ns() + (int64_t)timeout_ms * 1000000;

	/* If the agent hangs up while we send (it rejected the request), its
	 * ERROR frame may still be waiting to be read: read on. */
	enum io_result r = send_request(&c);
	if (r == IO_FAILED)
		return fb_error_prefix("send request to agent");
	struct fb_frame_reader rd;
	if (r != IO_DEADLINE && r != IO_CANCELLED) {
		if (fb_reader_init(&rd, FB_FRAMES_TO_HOST, FB_PROTO_MAX_TO_HOST) < 0)
			return -1;
		r = receive_frames(&c, &rd);
		if (r == IO_PEER_GONE && fb_reader_partial(&rd))
			fb_error("agent closed the connection in the middle of a frame");
		else if (r == IO_PEER_GONE)
			fb_error("agent closed the connection before EXIT (guest died?)");
		fb_reader_free(&rd);
	}
	if (r == IO_DEADLINE) {
		set_host_deadline(out);
		return 0;
	}
	if (r == IO_CANCELLED)
		return fb_error("run abandoned by the caller (client went away)");
	if (r != IO_OK)
		return fb_error_prefix("agent run");
	return 0;
}

/* One host connection: read the request, freshen the guest, hand the job to
 * the worker and relay it (pump.c). A VM runs one job; later connections
 * get an ERROR frame. */
#include "serve.h"

#include "log.h"
#include "oom.h"
#include "pump.h"
#include "reseed.h"

#include "proto/frame.h"
#include "proto/reader.h"

#include "util/error.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The host sends its whole request at once; this only bounds a stuck host. */
#define REQUEST_TIMEOUT_MS    (60 * 1000)
#define ERROR_SEND_TIMEOUT_MS 1000

struct host_request {
	struct fb_exec_header exec;
	uint8_t *code;
	size_t code_got;
	bool have_exec;
};

static bool job_started;
static const char *served_runtime = "python";

void serve_set_runtime(const char *runtime)
{
	served_runtime = runtime;
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take one frame of the request; returns 1 once the request is complete. */
static int take_frame(struct host_request *req, const struct fb_frame_header *h,
		      const uint8_t *payload)
{
	if (h->type == FB_FRAME_EXEC) {
		if (req->have_exec)
			return fb_error("second EXEC frame");
		if (fb_exec_decode(payload, h->len, &req->exec) < 0)
			return -1;
		req->have_exec = true;
		/* +1: never malloc(0), and room for nothing more. */
		req->code = malloc((size_t)req->exec.code_len + 1);
		if (!req->code)
			return fb_error_errno("allocate %u bytes of code", req->exec.code_len);
	} else {
		if (!req->have_exec)
			return fb_error("CODE frame before EXEC");
		if (h->len > req->exec.code_len - req->code_got)
			return fb_error("CODE frames exceed the announced %u bytes",
					req->exec.code_len);
		memcpy(req->code + req->code_got, payload, h->len);
		req->code_got += h->len;
	}
	return req->code_got == req->exec.code_len ? 1 : 0;
}

static int read_request(int conn, struct host_request *req)
{
	struct fb_frame_reader rd;
	if (fb_reader_init(&rd, FB_FRAMES_TO_GUEST, FB_PROTO_MAX_TO_GUEST) < 0)
		return -1;
	int64_t deadline = monotonic_ms() + REQUEST_TIMEOUT_MS;
	int done = 0;
	while (done == 0) {
		struct fb_frame_header h;
		const uint8_t *payload;
		int got = fb_reader_next(&rd, &h, &payload);
		if (got != 0) {
			done = got < 0 ? -1 : take_frame(req, &h, payload);
			continue;
		}
		int64_t left = deadline - monotonic_ms();
		struct pollfd pfd = {.fd = conn, .events = POLLIN};
		int n = left > 0 ? poll(&pfd, 1, (int)left) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			done = n < 0 ? fb_error_errno("poll (request)")
				     : fb_error("request timed out");
			break;
		}
		ssize_t r = fb_reader_fill(&rd, conn);
		if (r == 0)
			done =
			    fb_error("host closed the connection before the request was complete");
		else if (r < 0 && errno != EAGAIN)
			done = -1;
	}
	fb_reader_free(&rd);
	return done < 0 ? fb_error_prefix("read request") : 0;
}

/* Best effort: the host learns why; the session is over either way. */
static void send_error_frame(int conn, const char *message)
{
	uint8_t frame[FB_FRAME_HEADER_SIZE + FB_PROTO_MAX_ERROR];
	size_t len = strnlen(message, FB_PROTO_MAX_ERROR);
	if (len == 0)
		message = "unknown error", len = strlen(message);
	fb_frame_header_encode(frame, FB_FRAME_ERROR, (uint32_t)len);
	memcpy(frame + FB_FRAME_HEADER_SIZE, message, len);
	size_t off = 0, total = FB_FRAME_HEADER_SIZE + len;
	int64_t deadline = monotonic_ms() + ERROR_SEND_TIMEOUT_MS;
	while (off < total && monotonic_ms() < deadline) {
		ssize_t n = send(conn, frame + off, total - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return;
		struct pollfd pfd = {.fd = conn, .events = POLLOUT};
		poll(&pfd, 1, 50);
	}
}

static bool language_supported(const char *lang)
{
	return strcmp(lang, served_runtime) == 0 ||
	       (strcmp(served_runtime, "python") == 0 && strcmp(lang, "python3") == 0);
}

/* Fresh kernel RNG and clock (guest only), then the job to the worker. */
static int start_job(struct host_request *req, struct agent_worker *w, bool system)
{
	if (!language_supported(req->exec.language))
		return fb_error("unsupported language \"%s\" (this guest runs %s)",
				req->exec.language, served_runtime);
	if (system) {
		if (reseed_kernel_rng(req->exec.entropy, sizeof(req->exec.entropy)) < 0)
			return fb_error_prefix("reseed kernel RNG");
		if (set_wall_clock(req->exec.realtime_sec, req->exec.realtime_nsec) < 0)
			agent_log("warning: %s", fb_error_last());
	}
	/* Drawn after the reseed, so it differs in every fork. */
	uint8_t seed[WORKER_SEED_LEN];
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return fb_error_errno("getrandom (worker seed)");
	job_started = true;
	oom_watch_begin();
	if (worker_send_job(w, seed, sizeof(seed), req->code, req->exec.code_len) < 0)
		return fb_error_prefix("hand job to worker");
	return 0;
}

static int run_session(int conn, struct agent_worker *w, bool system)
{
	if (job_started)
		return fb_error("this VM already ran its request");
	struct host_request req;
	memset(&req, 0, sizeof(req));
	int ret = read_request(conn, &req);
	if (ret == 0)
		ret = start_job(&req, w, system);
	free(req.code);
	if (ret < 0)
		return -1;
	/* The limit counts from the moment the worker has the code. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	struct pump_job job = {.time_limit_ms = req.exec.time_limit_ms, .kill_all = agent_is_pid1};
	job.start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	return pump_run(conn, w, &job) < 0 ? -2 : 0;
}

int serve_connection(int conn, struct agent_worker *w, bool system)
{
	int ret = run_session(conn, w, system);
	/* -2: the job ran but the host is gone; there is nobody to tell. */
	if (ret == -1)
		send_error_frame(conn, fb_error_last());
	close(conn);
	return ret < 0 ? -1 : 0;
}

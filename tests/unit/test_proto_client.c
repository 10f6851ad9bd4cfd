/* The host client (fb_agent_run) against a scripted fake agent on a
 * socketpair: what it sends, and how it copes with a hostile or dying peer. */
#include "proto/client.h"
#include "proto/reader.h"

#include "util/clock.h"
#include "util/error.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* What the fake agent does after (or instead of) reading the request. */
struct fake_agent {
	int fd;
	bool skip_request;    /* close without reading anything */
	const uint8_t *reply; /* bytes to send back, then close */
	size_t reply_len;
	bool hold_open; /* keep the socket open until the client closes */
	/* Filled by the fake agent: */
	struct fb_exec_header exec;
	uint8_t *code;
	size_t code_len;
	int code_frames;
	bool request_ok;
};

static void *fake_agent_main(void *arg)
{
	struct fake_agent *a = arg;
	if (a->skip_request) {
		close(a->fd);
		return NULL;
	}
	struct fb_frame_reader rd;
	if (fb_reader_init(&rd, FB_FRAMES_TO_GUEST, FB_PROTO_MAX_TO_GUEST) < 0)
		return NULL;
	bool have_exec = false;
	while (!have_exec || a->code_len < a->exec.code_len) {
		struct fb_frame_header h;
		const uint8_t *p;
		int got = fb_reader_next(&rd, &h, &p);
		if (got < 0)
			goto out;
		if (got == 0) {
			struct pollfd pfd = {.fd = a->fd, .events = POLLIN};
			poll(&pfd, 1, 5000);
			if (fb_reader_fill(&rd, a->fd) <= 0 && errno != EAGAIN)
				goto out;
			continue;
		}
		if (h.type == FB_FRAME_EXEC) {
			if (fb_exec_decode(p, h.len, &a->exec) < 0)
				goto out;
			have_exec = true;
			a->code = malloc(a->exec.code_len + 1);
		} else {
			memcpy(a->code + a->code_len, p, h.len);
			a->code_len += h.len;
			a->code_frames++;
		}
	}
	a->request_ok = true;
	for (size_t off = 0; off < a->reply_len;) {
		ssize_t n = send(a->fd, a->reply + off, a->reply_len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (a->hold_open) {
		char byte;
		while (recv(a->fd, &byte, 1, 0) > 0)
			;
	}
out:
	fb_reader_free(&rd);
	close(a->fd);
	return NULL;
}

struct capture {
	char data[3][256];
	size_t len[3];
	int calls;
	int abort_after;
};

static int on_output(void *ctx, int stream, const void *data, size_t len)
{
	struct capture *c = ctx;
	assert_true(stream == 1 || stream == 2);
	assert_true(c->len[stream] + len < sizeof(c->data[stream]));
	memcpy(c->data[stream] + c->len[stream], data, len);
	c->len[stream] += len;
	c->calls++;
	return c->abort_after && c->calls >= c->abort_after;
}

struct client_call {
	struct fake_agent agent;
	struct capture cap;
	struct fb_agent_outcome out;
	int ret;
	double seconds;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void call_client(struct client_call *c, const struct fb_agent_request *req)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c->agent.fd = sv[1];
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, fake_agent_main, &c->agent), 0);
	struct fb_agent_handlers h = {.on_output = on_output, .ctx = &c->cap};
	double start = now_s();
	fb_error_clear();
	c->ret = fb_agent_run(sv[0], req, &h, &c->out);
	c->seconds = now_s() - start;
	close(sv[0]);
	assert_int_equal(pthread_join(thread, NULL), 0);
}

static void call_free(struct client_call *c)
{
	free(c->agent.code);
}

/* Reply bytes built frame by frame. */
struct reply {
	uint8_t buf[4096];
	size_t len;
};

static void add_frame(struct reply *r, uint32_t type, const void *payload, size_t len)
{
	fb_frame_header_encode(r->buf + r->len, type, (uint32_t)len);
	memcpy(r->buf + r->len + FB_FRAME_HEADER_SIZE, payload, len);
	r->len += FB_FRAME_HEADER_SIZE + len;
}

static void add_exit(struct reply *r, int code, int sig, uint32_t flags)
{
	struct fb_exit_info x = {
	    .exit_code = code, .term_signal = sig, .flags = flags, .run_time_ns = 4242};
	uint8_t payload[FB_PROTO_EXIT_LEN];
	fb_exit_encode(payload, &x);
	add_frame(r, FB_FRAME_EXIT, payload, sizeof(payload));
}

static const struct fb_agent_request simple_req = {
    .code = "print(1)\n",
    .code_len = 9,
    .time_limit_ms = 3000,
    .host_timeout_ms = 5000,
};

static void test_request_and_output(void **state)
{
	(void)state;
	struct reply r = {0};
	add_frame(&r, FB_FRAME_STDOUT, "hel", 3);
	add_frame(&r, FB_FRAME_STDERR, "oops", 4);
	add_frame(&r, FB_FRAME_STDOUT, "lo", 2);
	add_exit(&r, 3, 0, 0);
	struct client_call c = {.agent = {.reply = r.buf, .reply_len = r.len}};
	struct timespec before;
	clock_gettime(CLOCK_REALTIME, &before);
	call_client(&c, &simple_req);
	assert_int_equal(c.ret, 0);
	assert_true(c.agent.request_ok);
	assert_string_equal(c.agent.exec.language, "python");
	assert_int_equal(c.agent.exec.time_limit_ms, 3000);
	assert_int_equal(c.agent.code_len, 9);
	assert_memory_equal(c.agent.code, "print(1)\n", 9);
	assert_true(c.agent.exec.realtime_sec >= before.tv_sec);
	assert_true(c.agent.exec.realtime_sec <= before.tv_sec + 2);
	uint8_t zero[FB_PROTO_ENTROPY_LEN] = {0};
	assert_memory_not_equal(c.agent.exec.entropy, zero, sizeof(zero));
	assert_memory_equal(c.cap.data[1], "hello", 5);
	assert_memory_equal(c.cap.data[2], "oops", 4);
	assert_int_equal(c.out.exit_code, 3);
	assert_int_equal(c.out.term_signal, 0);
	assert_false(c.out.timed_out);
	assert_false(c.out.truncated);
	assert_int_equal(c.out.guest_run_time_ns, 4242);
	assert_int_equal(c.out.stdout_bytes, 5);
	assert_int_equal(c.out.stderr_bytes, 4);
	call_free(&c);
}

static void test_fresh_entropy_each_request(void **state)
{
	(void)state;
	struct reply r = {0};
	add_exit(&r, 0, 0, 0);
	struct client_call a = {.agent = {.reply = r.buf, .reply_len = r.len}};
	struct client_call b = a;
	call_client(&a, &simple_req);
	call_client(&b, &simple_req);
	assert_int_equal(a.ret, 0);
	assert_int_equal(b.ret, 0);
	assert_memory_not_equal(a.agent.exec.entropy, b.agent.exec.entropy, FB_PROTO_ENTROPY_LEN);
	call_free(&a);
	call_free(&b);
}

static void test_large_code_in_chunks(void **state)
{
	(void)state;
	size_t len = 3 * FB_PROTO_MAX_CODE_CHUNK + 17;
	char *code = malloc(len);
	assert_non_null(code);
	for (size_t i = 0; i < len; i++)
		code[i] = (char)('a' + i % 26);
	struct fb_agent_request req = simple_req;
	req.code = code;
	req.code_len = len;
	req.language = "python3";
	struct reply r = {0};
	add_exit(&r, 0, 0, 0);
	struct client_call c = {.agent = {.reply = r.buf, .reply_len = r.len}};
	call_client(&c, &req);
	assert_int_equal(c.ret, 0);
	assert_int_equal(c.agent.code_frames, 4);
	assert_int_equal(c.agent.code_len, len);
	assert_memory_equal(c.agent.code, code, len);
	assert_string_equal(c.agent.exec.language, "python3");
	free(code);
	call_free(&c);
}

static void test_timeout_and_signal_reported(void **state)
{
	(void)state;
	struct reply r = {0};
	add_exit(&r, 137, 9, FB_EXIT_TIMED_OUT);
	struct client_call c = {.agent = {.reply = r.buf, .reply_len = r.len}};
	call_client(&c, &simple_req);
	assert_int_equal(c.ret, 0);
	assert_true(c.out.timed_out);
	assert_false(c.out.host_deadline);
	assert_int_equal(c.out.exit_code, 137);
	assert_int_equal(c.out.term_signal, 9);
	call_free(&c);
}

static void expect_failure(const struct reply *r, const char *why)
{
	struct client_call c = {.agent = {.reply = r->buf, .reply_len = r->len}};
	call_client(&c, &simple_req);
	assert_int_equal(c.ret, -1);
	if (!strstr(fb_error_last(), why))
		fail_msg("error \"%s\" lacks \"%s\"", fb_error_last(), why);
	call_free(&c);
}

static void test_peer_closes_before_exit(void **state)
{
	(void)state;
	struct reply r = {0};
	add_frame(&r, FB_FRAME_STDOUT, "partial", 7);
	expect_failure(&r, "closed the connection before EXIT");
	/* Mid-frame: a header promising more than arrives. */
	struct reply cut = {0};
	add_frame(&cut, FB_FRAME_STDOUT, "abcdef", 6);
	cut.len -= 3;
	expect_failure(&cut, "middle of a frame");
}

static void test_peer_never_reads(void **state)
{
	(void)state;
	struct client_call c = {.agent = {.skip_request = true}};
	struct fb_agent_request req = simple_req;
	char *code = calloc(1, 8u << 20); /* more than the socket buffers */
	assert_non_null(code);
	req.code = code;
	req.code_len = 8u << 20;
	call_client(&c, &req);
	assert_int_equal(c.ret, -1);
	assert_non_null(strstr(fb_error_last(), "closed the connection"));
	assert_true(c.seconds < 4);
	free(code);
	call_free(&c);
}

static void test_garbage_rejected(void **state)
{
	(void)state;
	struct reply r = {.len = 40};
	memcpy(r.buf, "HTTP/1.1 400 Bad Request\r\n\r\nnothing here", 40);
	expect_failure(&r, "magic");
	/* An oversized length is refused from the header alone. */
	struct reply big = {0};
	fb_frame_header_encode(big.buf, FB_FRAME_STDOUT, FB_PROTO_MAX_OUTPUT_CHUNK + 1);
	big.len = FB_FRAME_HEADER_SIZE;
	expect_failure(&big, "length");
	/* Host-bound direction only. */
	struct reply wrong = {0};
	add_frame(&wrong, FB_FRAME_CODE, "x", 1);
	expect_failure(&wrong, "type");
	/* An EXIT that contradicts itself. */
	struct reply bad_exit = {0};
	add_exit(&bad_exit, 300, 0, 0);
	expect_failure(&bad_exit, "EXIT");
}

static void test_agent_error_frame(void **state)
{
	(void)state;
	struct reply r = {0};
	add_frame(&r, FB_FRAME_ERROR, "no\nway\x07", 7);
	struct client_call c = {.agent = {.reply = r.buf, .reply_len = r.len}};
	call_client(&c, &simple_req);
	assert_int_equal(c.ret, -1);
	assert_string_equal(c.out.agent_error, "no?way?");
	assert_non_null(strstr(fb_error_last(), "agent: no?way?"));
	call_free(&c);
}

static void test_host_deadline(void **state)
{
	(void)state;
	struct fb_agent_request req = simple_req;
	req.host_timeout_ms = 300;
	struct client_call c = {.agent = {.hold_open = true}};
	call_client(&c, &req);
	assert_int_equal(c.ret, 0);
	assert_true(c.out.host_deadline);
	assert_true(c.out.timed_out);
	assert_int_equal(c.out.exit_code, 137);
	assert_int_equal(c.out.term_signal, 9);
	assert_true(c.seconds >= 0.29);
	assert_true(c.seconds < 2.0);
	call_free(&c);
}

static void test_output_limit_truncates(void **state)
{
	(void)state;
	struct reply r = {0};
	add_frame(&r, FB_FRAME_STDOUT, "abcd", 4);
	add_frame(&r, FB_FRAME_STDERR, "efgh", 4);
	add_frame(&r, FB_FRAME_STDOUT, "ijkl", 4);
	add_exit(&r, 0, 0, 0);
	struct fb_agent_request req = simple_req;
	req.output_limit = 6;
	struct client_call c = {.agent = {.reply = r.buf, .reply_len = r.len}};
	call_client(&c, &req);
	assert_int_equal(c.ret, 0);
	assert_true(c.out.truncated);
	assert_int_equal(c.cap.len[1] + c.cap.len[2], 6);
	assert_memory_equal(c.cap.data[2], "ef", 2);
	assert_int_equal(c.out.stdout_bytes, 8);
	assert_int_equal(c.out.stderr_bytes, 4);
	call_free(&c);
}

static void test_consumer_abort(void **state)
{
	(void)state;
	struct reply r = {0};
	add_frame(&r, FB_FRAME_STDOUT, "a", 1);
	add_frame(&r, FB_FRAME_STDOUT, "b", 1);
	add_exit(&r, 0, 0, 0);
	struct client_call c = {.agent = {.reply = r.buf, .reply_len = r.len}};
	c.cap.abort_after = 1;
	call_client(&c, &simple_req);
	assert_int_equal(c.ret, -1);
	assert_int_equal(c.cap.calls, 1);
	assert_non_null(strstr(fb_error_last(), "aborted"));
	call_free(&c);
}

static void test_invalid_request_refused(void **state)
{
	(void)state;
	struct fb_agent_request req = simple_req;
	req.language = "Not A Language";
	struct fb_agent_outcome out;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fb_agent_run(sv[0], &req, NULL, &out), -1);
	req = simple_req;
	req.time_limit_ms = 0;
	assert_int_equal(fb_agent_run(sv[0], &req, NULL, &out), -1);
	req = simple_req;
	req.code_len = (size_t)FB_PROTO_MAX_CODE + 1;
	assert_int_equal(fb_agent_run(sv[0], &req, NULL, &out), -1);
	close(sv[0]);
	close(sv[1]);
}

static int cancel_checks;

static bool cancel_at_third_check(void *ctx)
{
	(void)ctx;
	return ++cancel_checks >= 3;
}

/* A caller whose client went away: a silent agent is abandoned at the next
 * check (every FB_AGENT_CANCEL_CHECK_MS), long before the host deadline. */
static void test_cancelled_run(void **state)
{
	(void)state;
	int sv[2];
	struct fake_agent agent = {.hold_open = true};
	struct fb_agent_request req = simple_req;
	struct fb_agent_handlers h = {.cancelled = cancel_at_third_check};
	struct fb_agent_outcome out;
	pthread_t thread;

	req.host_timeout_ms = 20000;
	cancel_checks = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	agent.fd = sv[1];
	assert_int_equal(pthread_create(&thread, NULL, fake_agent_main, &agent), 0);
	double start = now_s();
	assert_int_equal(fb_agent_run(sv[0], &req, &h, &out), -1);
	double took = now_s() - start;
	assert_non_null(strstr(fb_error_last(), "abandoned"));
	assert_int_equal(cancel_checks, 3);
	assert_true(took >= 0.15 && took < 2.0);
	assert_false(out.host_deadline);
	close(sv[0]);
	assert_int_equal(pthread_join(thread, NULL), 0);
	free(agent.code);
}

/* The poll() timeout of a far deadline: host_timeout_ms is a u32, so the
 * time left can exceed INT_MAX ms; a plain cast went negative (wait for
 * ever). */
static void test_poll_timeout_clamped(void **state)
{
	(void)state;
	assert_int_equal(fb_clock_poll_ms(-5), 0);
	assert_int_equal(fb_clock_poll_ms(0), 0);
	assert_int_equal(fb_clock_poll_ms(1), 1);
	assert_int_equal(fb_clock_poll_ms(1000000), 1);
	assert_int_equal(fb_clock_poll_ms(1000001), 2);
	assert_int_equal(fb_clock_poll_ms((int64_t)UINT32_MAX * 1000000), INT_MAX);
	assert_int_equal(fb_clock_poll_ms(INT64_MAX), INT_MAX);
	assert_int_equal(fb_clock_poll_ms((int64_t)INT_MAX * 1000000), INT_MAX);
}

/* The longest host deadline the request allows still works as a deadline
 * that has not passed: the answer is read, nothing waits for ever. */
static void test_longest_host_deadline(void **state)
{
	(void)state;
	struct reply r = {0};
	add_frame(&r, FB_FRAME_STDOUT, "ok", 2);
	add_exit(&r, 0, 0, 0);
	struct fb_agent_request req = simple_req;
	req.host_timeout_ms = UINT32_MAX;
	struct client_call c = {.agent = {.reply = r.buf, .reply_len = r.len}};
	call_client(&c, &req);
	assert_int_equal(c.ret, 0);
	assert_false(c.out.host_deadline);
	assert_memory_equal(c.cap.data[1], "ok", 2);
	call_free(&c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_and_output),
	    cmocka_unit_test(test_fresh_entropy_each_request),
	    cmocka_unit_test(test_large_code_in_chunks),
	    cmocka_unit_test(test_timeout_and_signal_reported),
	    cmocka_unit_test(test_peer_closes_before_exit),
	    cmocka_unit_test(test_peer_never_reads),
	    cmocka_unit_test(test_garbage_rejected),
	    cmocka_unit_test(test_agent_error_frame),
	    cmocka_unit_test(test_host_deadline),
	    cmocka_unit_test(test_output_limit_truncates),
	    cmocka_unit_test(test_consumer_abort),
	    cmocka_unit_test(test_invalid_request_refused),
	    cmocka_unit_test(test_poll_timeout_clamped),
	    cmocka_unit_test(test_cancelled_run),
	    cmocka_unit_test(test_longest_host_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

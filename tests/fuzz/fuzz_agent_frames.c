/* libFuzzer target: the agent frame reader (src/proto/reader.c), the frame
 * decoders (src/proto/frame.c) and the host client (src/proto/client.c)
 * reading a hostile agent's answer.
 *
 * Input: one mode byte, then the byte stream.
 *   - The stream is fed to a frame reader in chunks (sizes taken from the
 *     mode byte), for both directions, and every frame it yields is decoded.
 *   - The stream is the agent's answer on a socketpair: fb_agent_run() sends
 *     its request, reads the answer up to EXIT/ERROR or end of stream, and
 *     must end with 0 or -1, never crash, never report more output than it
 *     let through. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/client.h"
#include "proto/frame.h"
#include "proto/reader.h"
#include "util/error.h"

static void decode(const struct fb_frame_header *h, const uint8_t *payload)
{
	struct fb_exec_header e;
	struct fb_exit_info x;
	char msg[FB_PROTO_MAX_ERROR + 1];

	switch (h->type) {
	case FB_FRAME_EXEC:
		if (fb_exec_decode(payload, h->len, &e) == 0 &&
		    (strlen(e.language) == 0 || e.time_limit_ms == 0 ||
		     e.code_len > FB_PROTO_MAX_CODE))
			abort(); /* accepted what PROTOCOL.md forbids */
		break;
	case FB_FRAME_EXIT:
		if (fb_exit_decode(payload, h->len, &x) == 0 &&
		    (x.exit_code < 0 || x.exit_code > 255 || (x.flags & ~FB_EXIT_KNOWN_FLAGS)))
			abort();
		break;
	case FB_FRAME_ERROR:
		if (fb_error_msg_decode(payload, h->len, msg, sizeof(msg)) == 0) {
			for (const char *c = msg; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					abort(); /* control characters must be replaced */
		}
		break;
	}
}

/* Feed the stream in chunks of 1..chunk bytes; take frames as they come. */
static void read_frames(const uint8_t *data, size_t size, uint32_t allowed, size_t max_payload,
			size_t chunk)
{
	struct fb_frame_reader rd;
	struct fb_frame_header h;
	const uint8_t *payload;
	size_t off = 0;
	int got = 0;

	if (fb_reader_init(&rd, allowed, max_payload) < 0)
		return;
	while (off < size && got >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (fb_reader_feed(&rd, data + off, n) < 0)
			break;
		off += n;
		while ((got = fb_reader_next(&rd, &h, &payload)) == 1) {
			if (!(allowed & FB_FRAME_BIT(h.type)) || h.len > max_payload ||
			    payload < rd.buf || payload + h.len > rd.buf + rd.len)
				abort();
			decode(&h, payload);
		}
	}
	fb_reader_partial(&rd);
	fb_reader_free(&rd);
}

struct seen {
	size_t bytes;
	int abort_at; /* abort the run at this output call (0 never) */
	int calls;
};

static int on_output(void *ctx, int stream, const void *data, size_t len)
{
	struct seen *s = ctx;

	if ((stream != 1 && stream != 2) || len == 0 || !data)
		abort();
	s->bytes += len;
	return ++s->calls == s->abort_at;
}

/* The answer must fit the socket buffer: nothing reads it concurrently. */
#define MAX_ANSWER (96 * 1024)

static void run_client(const uint8_t *data, size_t size, uint8_t mode)
{
	int sv[2];
	struct fb_agent_outcome out;
	struct seen seen = {.abort_at = (mode >> 4) & 3};
	struct fb_agent_handlers h = {.on_output = on_output, .ctx = &seen};
	struct fb_agent_request req = {
	    .code = "print(1)\n",
	    .code_len = 9,
	    .time_limit_ms = 1000,
	    .host_timeout_ms = 2000,
	    .output_limit = (mode & 0x40) ? 100 : 0,
	};
	int bufsize = 4 * MAX_ANSWER;

	if (size > MAX_ANSWER || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	ssize_t w = size ? send(sv[1], data, size, MSG_DONTWAIT | MSG_NOSIGNAL) : 0;
	if (w == (ssize_t)size) {
		if (mode & 0x80)
			shutdown(sv[1], SHUT_WR); /* EOF after the answer, agent still reads */
		else
			close(sv[1]), sv[1] = -1;
		int rc = fb_agent_run(sv[0], &req, &h, &out);
		if (rc == 0 && !out.host_deadline && out.exit_code > 255)
			abort();
		if (req.output_limit && seen.bytes > req.output_limit)
			abort(); /* more output handed on than the limit */
	}
	close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	size_t chunk = (size_t)(mode & 0x0f) * 997 + 1;

	data++;
	size--;
	read_frames(data, size, FB_FRAMES_TO_HOST, FB_PROTO_MAX_TO_HOST, chunk);
	read_frames(data, size, FB_FRAMES_TO_GUEST, 4096, chunk);
	run_client(data, size, mode);
	return 0;
}

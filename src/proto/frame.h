/* Host <-> guest agent frames (see PROTOCOL.md): a 12-byte little-endian
 * header {magic, type, length} followed by `length` bytes of payload.
 *
 * Both ends treat the other as untrusted: every decoder checks the magic,
 * that the type is one this direction may carry, and the payload length
 * against the type's own limits before anything is read or allocated. */
#ifndef FORKBOX_PROTO_FRAME_H
#define FORKBOX_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* "FBX" + protocol version 1, read as a little-endian u32. */
#define FB_PROTO_MAGIC	     0x01584246u
#define FB_FRAME_HEADER_SIZE 12u

#define FB_PROTO_ENTROPY_LEN	   64u	       /* EXEC: fresh host entropy */
#define FB_PROTO_MAX_LANGUAGE	   32u	       /* EXEC: language name bytes */
#define FB_PROTO_MAX_CODE	   (64u << 20) /* EXEC: code length, sent as CODE frames */
#define FB_PROTO_MAX_CODE_CHUNK	   (1u << 20)  /* CODE payload */
#define FB_PROTO_MAX_OUTPUT_CHUNK  (64u << 10) /* STDOUT / STDERR payload */
#define FB_PROTO_MAX_ERROR	   1024u       /* ERROR payload */
#define FB_PROTO_MAX_TIME_LIMIT_MS (24u * 3600u * 1000u)
#define FB_PROTO_EXEC_FIXED	   88u /* EXEC payload before the language */
#define FB_PROTO_EXIT_LEN	   24u
/* Largest payload each side can receive. */
#define FB_PROTO_MAX_TO_GUEST FB_PROTO_MAX_CODE_CHUNK
#define FB_PROTO_MAX_TO_HOST  FB_PROTO_MAX_OUTPUT_CHUNK

enum fb_frame_type {
	FB_FRAME_EXEC = 1,    /* host -> guest: the request, then code_len bytes of CODE */
	FB_FRAME_CODE = 2,    /* host -> guest: a chunk of the code */
	FB_FRAME_STDOUT = 16, /* guest -> host: output of the code */
	FB_FRAME_STDERR = 17,
	FB_FRAME_EXIT = 18,  /* guest -> host: final status, last frame */
	FB_FRAME_ERROR = 19, /* guest -> host: the request could not run, last frame */
};

#define FB_FRAME_BIT(type) (1u << (type))
#define FB_FRAMES_TO_GUEST (FB_FRAME_BIT(FB_FRAME_EXEC) | FB_FRAME_BIT(FB_FRAME_CODE))
#define FB_FRAMES_TO_HOST                                                                          \
	(FB_FRAME_BIT(FB_FRAME_STDOUT) | FB_FRAME_BIT(FB_FRAME_STDERR) |                           \
	 FB_FRAME_BIT(FB_FRAME_EXIT) | FB_FRAME_BIT(FB_FRAME_ERROR))

struct fb_frame_header {
	uint32_t type;
	uint32_t len; /* payload bytes */
};

struct fb_exec_header {
	uint8_t entropy[FB_PROTO_ENTROPY_LEN];
	int64_t realtime_sec; /* host CLOCK_REALTIME */
	uint32_t realtime_nsec;
	uint32_t time_limit_ms;			  /* 1 .. FB_PROTO_MAX_TIME_LIMIT_MS */
	uint32_t code_len;			  /* bytes of code in the CODE frames that follow */
	char language[FB_PROTO_MAX_LANGUAGE + 1]; /* NUL-terminated, [a-z0-9._+-] */
};

#define FB_EXIT_TIMED_OUT   0x1u /* the agent killed the code at the time limit */
#define FB_EXIT_KNOWN_FLAGS FB_EXIT_TIMED_OUT

struct fb_exit_info {
	int32_t exit_code;    /* 0..255; 128+N after death by signal N */
	int32_t term_signal;  /* 0, or 1..64 */
	uint32_t flags;	      /* FB_EXIT_* */
	uint64_t run_time_ns; /* measured by the agent: job start to reap */
};

void fb_frame_header_encode(uint8_t out[FB_FRAME_HEADER_SIZE], uint32_t type, uint32_t len);
/* Check magic, that type is in `allowed` (FB_FRAME_BIT mask) and the length
 * against the type's limits. Returns -1 with fb_error_last() set. */
int fb_frame_header_decode(const uint8_t in[FB_FRAME_HEADER_SIZE], uint32_t allowed,
			   struct fb_frame_header *h);

/* EXEC payload: returns its length (FB_PROTO_EXEC_FIXED + language length),
 * or -1 when the request is invalid or does not fit `cap`. */
int fb_exec_encode(uint8_t *out, size_t cap, const struct fb_exec_header *e);
int fb_exec_decode(const uint8_t *payload, size_t len, struct fb_exec_header *e);

void fb_exit_encode(uint8_t out[FB_PROTO_EXIT_LEN], const struct fb_exit_info *x);
int fb_exit_decode(const uint8_t *payload, size_t len, struct fb_exit_info *x);

/* ERROR payload to a NUL-terminated string of at most cap-1 bytes; control
 * characters become '?'. Returns -1 on an empty or oversized payload. */
int fb_error_msg_decode(const uint8_t *payload, size_t len, char *out, size_t cap);

#endif

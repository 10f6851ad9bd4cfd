/* In-memory struct fb_conn for the FastCGI layer's unit tests. */
#ifndef FORKBOX_TESTS_MEMCONN_H
#define FORKBOX_TESTS_MEMCONN_H

#include "fcgi/io.h"

#include <stddef.h>

struct memconn {
	struct fb_conn conn;
	const char *const *params; /* "NAME=value" strings, NULL-terminated */
	const char *body;
	size_t body_len, body_pos;
	size_t read_chunk; /* bytes per read() call; 0 = all */
	char *out;	   /* everything written, NUL-terminated */
	size_t out_len;
	int flushes;
	size_t flushed_at[16]; /* out_len at each of the first 16 flushes */
	/* The client goes away at the gone_at-th gone() check (0: never); from
	 * then on writes fail too. */
	int gone_at, gone_checks;
	bool is_gone;
};

void memconn_init(struct memconn *m, const char *const *params, const char *body);
void memconn_free(struct memconn *m);
/* The response body (after the blank line), or NULL. */
const char *memconn_body(const struct memconn *m);
/* The status code from the "Status:" header, or -1. */
int memconn_status(const struct memconn *m);

#endif

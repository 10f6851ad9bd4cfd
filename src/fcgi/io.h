/* A request connection as the API handlers see it: CGI-style parameters plus
 * a body reader and a response writer. FastCGI (fcgx_conn.c), plain CGI
 * (cgi.c) and the unit tests each provide one, so the handlers never touch
 * libfcgi directly. */
#ifndef FORKBOX_FCGI_IO_H
#define FORKBOX_FCGI_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct fb_conn {
	/* Value of a CGI parameter (REQUEST_METHOD, HTTP_ACCEPT...) or NULL. */
	const char *(*param)(void *ctx, const char *name);
	/* Read up to len body bytes; 0 at end of body, -1 on error. */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	/* Write all len bytes of the response; 0, or -1 when the client is gone. */
	int (*write)(void *ctx, const void *buf, size_t len);
	/* Push buffered response bytes to the web server now; 0 or -1. */
	int (*flush)(void *ctx);
	void *ctx;
	/* Whether the web server closed the connection (the client went away),
	 * without blocking; may be NULL (never known). */
	bool (*gone)(void *ctx);
};

static inline int fb_conn_write(struct fb_conn *c, const void *buf, size_t len)
{
	return c->write(c->ctx, buf, len);
}

static inline bool fb_conn_gone(struct fb_conn *c)
{
	return c->gone && c->gone(c->ctx);
}

#endif

/* libfcgi adapter for the API handlers. */
#include "fcgi/fcgx_conn.h"

#include <limits.h>
#include <poll.h>

static const char *fcgx_param(void *ctx, const char *name)
{
	FCGX_Request *req = ctx;

	return FCGX_GetParam(name, req->envp);
}

static ssize_t fcgx_read(void *ctx, void *buf, size_t len)
{
	FCGX_Request *req = ctx;
	int n = FCGX_GetStr(buf, len > INT_MAX ? INT_MAX : (int)len, req->in);

	if (n == 0 && FCGX_GetError(req->in))
		return -1;
	return n;
}

static int fcgx_write(void *ctx, const void *buf, size_t len)
{
	FCGX_Request *req = ctx;
	const char *p = buf;

	while (len) {
		int chunk = len > INT_MAX ? INT_MAX : (int)len;
		if (FCGX_PutStr(p, chunk, req->out) != chunk)
			return -1;
		p += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

static int fcgx_flush(void *ctx)
{
	FCGX_Request *req = ctx;

	return FCGX_FFlush(req->out) ? -1 : 0;
}

/* nginx (fastcgi_ignore_client_abort off, its default) closes the FastCGI
 * connection when its client goes away; after the request nothing else
 * arrives on it, so a hangup is the only thing to look for. */
static bool fcgx_gone(void *ctx)
{
	FCGX_Request *req = ctx;
	struct pollfd pfd = {.fd = req->ipcFd, .events = POLLRDHUP};

	if (req->ipcFd < 0 || poll(&pfd, 1, 0) <= 0)
		return false;
	return pfd.revents & (POLLRDHUP | POLLHUP | POLLERR);
}

void fb_fcgx_conn_init(struct fb_conn *conn, FCGX_Request *req)
{
	conn->param = fcgx_param;
	conn->read = fcgx_read;
	conn->write = fcgx_write;
	conn->flush = fcgx_flush;
	conn->gone = fcgx_gone;
	conn->ctx = req;
}

#include "vmm/virtio/vsock_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/error.h"
#include "vmm/virtio/virtqueue.h"
#include "vmm/virtio/vsock.h"

uint32_t fb_vsock_conn_peer_credit(const struct fb_vsock_conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	/* A guest that shrank buf_alloc (or lied about fwd_cnt) gets nothing. */
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* The host end is gone (EPIPE and friends): reset the guest side. */
static void host_gone(struct fb_vsock_conn *c)
{
	c->pending |= FB_VSOCK_PEND_RST;
	c->host_writable = false;
	c->buf_used = 0;
}

/* Non-blocking write of iov to the host socket; bytes written, 0 if full. */
static size_t write_host(struct fb_vsock_conn *c, struct iovec *iov, unsigned n)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n};
	ssize_t w;

	if (!c->host_writable || (c->pending & FB_VSOCK_PEND_RST))
		return 0;
	w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w >= 0) {
		c->fwd_cnt += (uint32_t)w;
		return (size_t)w;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		c->host_writable = false;
	else if (errno != EINTR)
		host_gone(c);
	return 0;
}

static int buffer_append(struct fb_vsock_conn *c, const struct iovec *iov, unsigned n, size_t skip,
			 size_t len)
{
	if (len > FB_VSOCK_BUF_ALLOC - c->buf_used)
		return fb_error("vsock port %u: guest sent %zu bytes beyond its credit",
				c->host_port, len - (FB_VSOCK_BUF_ALLOC - c->buf_used));
	if (!c->buf) {
		c->buf = malloc(FB_VSOCK_BUF_ALLOC);
		if (!c->buf)
			return fb_error_errno("vsock connection buffer");
	}
	while (len > 0) {
		uint32_t tail = (c->buf_head + c->buf_used) % FB_VSOCK_BUF_ALLOC;
		size_t room = FB_VSOCK_BUF_ALLOC - tail;
		size_t take = len < room ? len : room;

		fb_iov_copy_from(iov, n, skip, c->buf + tail, take);
		c->buf_used += (uint32_t)take;
		skip += take;
		len -= take;
	}
	return 0;
}

int fb_vsock_conn_deliver(struct fb_vsock_conn *c, const struct iovec *iov, unsigned n, size_t len)
{
	size_t done = 0;

	if (c->pending & FB_VSOCK_PEND_RST)
		return 0; /* being reset: the bytes have nowhere to go */
	if (c->buf_used == 0) {
		struct iovec direct[FB_VIRTQ_MAX_SIZE];
		unsigned k = fb_iov_slice(iov, n, 0, len, direct, FB_VIRTQ_MAX_SIZE);

		done = write_host(c, direct, k);
		if (c->pending & FB_VSOCK_PEND_RST)
			return 0;
	}
	return buffer_append(c, iov, n, done, len - done);
}

static void flush_buffer(struct fb_vsock_conn *c)
{
	while (c->buf_used > 0 && c->host_writable) {
		uint32_t first = FB_VSOCK_BUF_ALLOC - c->buf_head;
		struct iovec iov[2] = {
		    {.iov_base = c->buf + c->buf_head,
		     .iov_len = c->buf_used < first ? c->buf_used : first},
		    {.iov_base = c->buf, .iov_len = c->buf_used > first ? c->buf_used - first : 0},
		};
		size_t w = write_host(c, iov, iov[1].iov_len ? 2 : 1);

		if (w == 0)
			return;
		c->buf_head = (uint32_t)((c->buf_head + w) % FB_VSOCK_BUF_ALLOC);
		c->buf_used -= (uint32_t)w;
	}
}

void fb_vsock_conn_flush(struct fb_vsock_conn *c)
{
	flush_buffer(c);
	if (c->buf_used > 0 || (c->pending & FB_VSOCK_PEND_RST))
		return;
	/* Everything the guest sent has reached the host: pass its shutdown on. */
	if (c->guest_shut_send && !c->host_wr_shut) {
		if (shutdown(c->fd, SHUT_WR) && errno != ENOTCONN)
			host_gone(c);
		c->host_wr_shut = true;
	}
	/* Clean close: both directions shut by the guest, answered with RST. */
	if (c->guest_shut_send && c->guest_shut_rcv)
		c->pending |= FB_VSOCK_PEND_RST;
}

void fb_vsock_conn_check_credit(struct fb_vsock_conn *c)
{
	if (c->state == FB_VSOCK_ESTABLISHED &&
	    c->fwd_cnt - c->fwd_cnt_sent >= FB_VSOCK_BUF_ALLOC / 4)
		c->pending |= FB_VSOCK_PEND_CREDIT;
}

void fb_vsock_conn_free(struct fb_vsock_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

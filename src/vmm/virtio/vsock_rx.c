/* Host -> guest: packets the device writes into the driver's rx buffers.
 * Host socket bytes are read straight into guest memory, never more than
 * the guest's advertised credit allows. */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "vmm/virtio/vsock_impl.h"

#define HDR_LEN sizeof(struct fb_vsock_hdr)

static void write_header(struct fb_vsock *dev, const struct fb_virtq_chain *chain,
			 uint32_t host_port, uint32_t guest_port, uint16_t op, uint32_t len,
			 uint32_t flags, const struct fb_vsock_conn *c)
{
	struct fb_vsock_hdr h = {
	    .src_cid = htole64(FB_VSOCK_HOST_CID),
	    .dst_cid = htole64(dev->guest_cid),
	    .src_port = htole32(host_port),
	    .dst_port = htole32(guest_port),
	    .len = htole32(len),
	    .type = htole16(FB_VSOCK_TYPE_STREAM),
	    .op = htole16(op),
	    .flags = htole32(flags),
	    .buf_alloc = htole32(c ? FB_VSOCK_BUF_ALLOC : 0),
	    .fwd_cnt = htole32(c ? c->fwd_cnt : 0),
	};

	fb_iov_copy_to(chain->in, chain->n_in, 0, &h, sizeof(h));
}

static bool can_send_data(const struct fb_vsock_conn *c)
{
	return c->state == FB_VSOCK_ESTABLISHED && c->host_readable && !c->host_eof &&
	       !c->guest_shut_rcv && fb_vsock_conn_peer_credit(c) > 0;
}

/* The next packet c has for the guest; data only when the rx buffer has
 * room for payload after the header (room). */
static uint16_t next_op(const struct fb_vsock_conn *c, bool room)
{
	if (c->dead)
		return 0;
	if (c->pending & FB_VSOCK_PEND_RST)
		return FB_VSOCK_OP_RST;
	if (c->state == FB_VSOCK_CONNECTING)
		return (c->pending & FB_VSOCK_PEND_REQUEST) ? FB_VSOCK_OP_REQUEST : 0;
	if (c->pending & FB_VSOCK_PEND_CREDIT)
		return FB_VSOCK_OP_CREDIT_UPDATE;
	if (room && can_send_data(c))
		return FB_VSOCK_OP_RW;
	if (c->pending & FB_VSOCK_PEND_SHUTDOWN)
		return FB_VSOCK_OP_SHUTDOWN;
	return 0;
}

/* The host stopped sending (EOF): tell the guest, and if the host is gone
 * altogether, wait for the guest to acknowledge before cleaning up. */
static uint32_t host_shutdown_flags(struct fb_vsock *dev, struct fb_vsock_conn *c)
{
	if (c->host_hup && !c->host_wr_shut) {
		c->state = FB_VSOCK_CLOSING;
		if (!c->deadline_ns)
			c->deadline_ns = fb_vsock_now_ns() + dev->close_timeout_ns;
		return FB_VSOCK_SHUTDOWN_SEND | FB_VSOCK_SHUTDOWN_RCV;
	}
	return FB_VSOCK_SHUTDOWN_SEND;
}

/* Read host bytes into the chain after the header. Returns the op actually
 * produced (RW, SHUTDOWN on EOF, RST if the socket failed) or 0 if the
 * socket had nothing (chain unused). */
static uint16_t read_host(struct fb_vsock *dev, struct fb_vsock_conn *c,
			  const struct fb_virtq_chain *chain, uint32_t *len, uint32_t *flags)
{
	struct iovec iov[FB_VIRTQ_MAX_SIZE];
	size_t max = chain->in_len - HDR_LEN;
	uint32_t credit = fb_vsock_conn_peer_credit(c);
	unsigned k;
	ssize_t n;

	if (max > credit)
		max = credit;
	if (max > FB_VSOCK_MAX_PKT_PAYLOAD)
		max = FB_VSOCK_MAX_PKT_PAYLOAD;
	k = fb_iov_slice(chain->in, chain->n_in, HDR_LEN, max, iov, FB_VIRTQ_MAX_SIZE);
	if (k == 0) /* not reached: next_op() offers data only with room */
		return FB_VSOCK_OP_CREDIT_UPDATE;
	n = readv(c->fd, iov, (int)k);
	if (n > 0) {
		*len = (uint32_t)n;
		c->tx_cnt += (uint32_t)n;
		return FB_VSOCK_OP_RW;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		c->host_readable = false;
		return 0;
	}
	if (n < 0) {
		c->dead = true;
		return FB_VSOCK_OP_RST;
	}
	c->host_eof = true;
	*flags = host_shutdown_flags(dev, c);
	return FB_VSOCK_OP_SHUTDOWN;
}

/* Fill one rx chain for connection c. False if nothing was produced. */
static bool send_conn_packet(struct fb_vsock *dev, struct fb_vsock_conn *c,
			     const struct fb_virtq_chain *chain, uint32_t *len)
{
	uint16_t op = next_op(c, chain->in_len > HDR_LEN);
	uint32_t flags = 0;

	*len = 0;
	switch (op) {
	case FB_VSOCK_OP_RST:
		c->dead = true;
		break;
	case FB_VSOCK_OP_REQUEST:
		c->pending &= ~FB_VSOCK_PEND_REQUEST;
		break;
	case FB_VSOCK_OP_SHUTDOWN:
		c->pending &= ~FB_VSOCK_PEND_SHUTDOWN;
		flags = c->shutdown_flags;
		break;
	case FB_VSOCK_OP_RW:
		op = read_host(dev, c, chain, len, &flags);
		if (!op)
			return false;
		break;
	}
	/* Every packet carries our credit, so a separate update is moot. */
	c->pending &= ~FB_VSOCK_PEND_CREDIT;
	c->fwd_cnt_sent = c->fwd_cnt;
	write_header(dev, chain, c->host_port, c->guest_port, op, *len, flags, c);
	return true;
}

/* Index of the next connection (round-robin) with a packet that fits the
 * buffer, or -1. */
static int find_conn_with_work(const struct fb_vsock *dev, bool room)
{
	for (unsigned i = 0; i < dev->nconns; i++) {
		unsigned idx = (dev->rr + i) % dev->nconns;

		if (next_op(dev->conns[idx], room))
			return (int)idx;
	}
	return -1;
}

static struct fb_vsock_conn *next_conn_with_work(struct fb_vsock *dev, bool room)
{
	int idx = find_conn_with_work(dev, room);

	if (idx < 0)
		return NULL;
	dev->rr = (unsigned)idx + 1;
	return dev->conns[idx];
}

/* Pop an rx chain big enough for a header. 1, 0 (none) or -1 (device error). */
static int pop_rx(struct fb_vsock *dev, struct fb_virtq *q)
{
	int r = fb_virtq_pop(q, &dev->mem, &dev->chain);

	if (r > 0 && dev->chain.in_len < HDR_LEN) {
		fb_error("virtqueue: rx buffer of %zu bytes cannot hold a header",
			 dev->chain.in_len);
		q->broken = true;
		r = -1;
	}
	if (r < 0)
		fb_vsock_device_error(dev, "rx queue");
	return r;
}

enum send_result { SENT_NOTHING, SENT_PACKET, SENT_RETRY };

static void send_stray_rst(struct fb_vsock *dev)
{
	struct fb_vsock_stray s = dev->stray[--dev->nstray];

	write_header(dev, &dev->chain, s.host_port, s.guest_port, FB_VSOCK_OP_RST, 0, 0, NULL);
}

/* One packet into the next rx buffer. The buffer is taken first, so that a
 * connection is only picked for work that fits it: data needs room after
 * the header. A buffer that fits no pending work goes back (SENT_NOTHING). */
static enum send_result send_one(struct fb_vsock *dev, struct fb_virtq *q)
{
	struct fb_vsock_conn *c = NULL;
	uint32_t len = 0;

	if (!dev->nstray && find_conn_with_work(dev, true) < 0)
		return SENT_NOTHING;
	if (pop_rx(dev, q) <= 0)
		return SENT_NOTHING;
	if (!dev->nstray) {
		c = next_conn_with_work(dev, dev->chain.in_len > HDR_LEN);
		if (!c) {
			fb_virtq_unpop(q);
			return SENT_NOTHING;
		}
	}
	if (c && !send_conn_packet(dev, c, &dev->chain, &len)) {
		fb_virtq_unpop(q);
		return SENT_RETRY; /* the connection's state changed; look again */
	}
	if (!c)
		send_stray_rst(dev);
	fb_virtq_push(q, &dev->mem, dev->chain.head, (uint32_t)HDR_LEN + len);
	return SENT_PACKET;
}

/* At most one queue's worth of packets per round, like the tx side: a guest
 * recycling rx buffers as fast as they are filled cannot keep the I/O
 * thread (and the device lock) busy for ever. */
void fb_vsock_process_rx(struct fb_vsock *dev)
{
	struct fb_virtq *q = &dev->t.queues[FB_VSOCK_QUEUE_RX];
	unsigned budget = q->num;
	bool pushed = false;
	enum send_result r = SENT_NOTHING;

	dev->rx_more = false;
	if (!fb_virtio_mmio_live(&dev->t) || !fb_virtq_usable(q))
		return;
	while (budget > 0 && fb_virtq_usable(q) && (r = send_one(dev, q)) != SENT_NOTHING) {
		if (r == SENT_PACKET) {
			pushed = true;
			budget--;
		}
	}
	dev->rx_more = budget == 0;
	if (pushed)
		fb_virtio_mmio_used(&dev->t, FB_VSOCK_QUEUE_RX);
}

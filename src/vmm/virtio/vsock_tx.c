/* Guest -> host: packets the driver puts on the tx queue. */
#include <endian.h>
#include <string.h>

#include "vmm/virtio/vsock_impl.h"

static void reset_conn(struct fb_vsock_conn *c)
{
	c->pending |= FB_VSOCK_PEND_RST;
}

static void handle_rw(struct fb_vsock_conn *c, const struct fb_virtq_chain *chain, uint32_t len)
{
	struct iovec payload[FB_VIRTQ_MAX_SIZE];
	unsigned n;

	if (c->state != FB_VSOCK_ESTABLISHED || c->guest_shut_send) {
		if (c->state != FB_VSOCK_CLOSING)
			reset_conn(c);
		return;
	}
	n = fb_iov_slice(chain->out, chain->n_out, sizeof(struct fb_vsock_hdr), len, payload,
			 FB_VIRTQ_MAX_SIZE);
	if (fb_vsock_conn_deliver(c, payload, n, len))
		reset_conn(c); /* guest ignored our credit */
	fb_vsock_conn_check_credit(c);
}

static void handle_shutdown(struct fb_vsock_conn *c, uint32_t flags)
{
	if (c->state == FB_VSOCK_CLOSING) {
		c->dead = true; /* the guest answered our SHUTDOWN */
		return;
	}
	if (c->state != FB_VSOCK_ESTABLISHED) {
		reset_conn(c);
		return;
	}
	if (flags & FB_VSOCK_SHUTDOWN_RCV)
		c->guest_shut_rcv = true;
	if (flags & FB_VSOCK_SHUTDOWN_SEND)
		c->guest_shut_send = true;
	fb_vsock_conn_flush(c);
}

static void handle_conn_packet(struct fb_vsock_conn *c, const struct fb_vsock_hdr *h,
			       const struct fb_virtq_chain *chain)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case FB_VSOCK_OP_RESPONSE:
		if (c->state == FB_VSOCK_CONNECTING && !(c->pending & FB_VSOCK_PEND_REQUEST)) {
			c->state = FB_VSOCK_ESTABLISHED;
			c->deadline_ns = 0; /* the connect timeout no longer applies */
		} else
			reset_conn(c);
		break;
	case FB_VSOCK_OP_RW:
		handle_rw(c, chain, h->len);
		break;
	case FB_VSOCK_OP_CREDIT_UPDATE:
		break; /* the counters above are the whole message */
	case FB_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= FB_VSOCK_PEND_CREDIT;
		break;
	case FB_VSOCK_OP_SHUTDOWN:
		handle_shutdown(c, h->flags);
		break;
	case FB_VSOCK_OP_RST:
		c->dead = true;
		break;
	default: /* REQUEST on a live connection, or garbage */
		reset_conn(c);
		break;
	}
}

static int read_header(const struct fb_virtq_chain *chain, struct fb_vsock_hdr *h)
{
	if (chain->out_len < sizeof(*h))
		return -1;
	fb_iov_copy_from(chain->out, chain->n_out, 0, h, sizeof(*h));
	h->src_cid = le64toh(h->src_cid);
	h->dst_cid = le64toh(h->dst_cid);
	h->src_port = le32toh(h->src_port);
	h->dst_port = le32toh(h->dst_port);
	h->len = le32toh(h->len);
	h->type = le16toh(h->type);
	h->op = le16toh(h->op);
	h->flags = le32toh(h->flags);
	h->buf_alloc = le32toh(h->buf_alloc);
	h->fwd_cnt = le32toh(h->fwd_cnt);
	if (h->len > chain->out_len - sizeof(*h) || h->len > FB_VSOCK_MAX_PKT_PAYLOAD)
		return -1;
	return 0;
}

static void handle_chain(struct fb_vsock *dev, const struct fb_virtq_chain *chain)
{
	struct fb_vsock_hdr h;
	struct fb_vsock_conn *c;

	/* Malformed or misaddressed packets have no one to answer: drop. */
	if (read_header(chain, &h) || h.src_cid != dev->guest_cid || h.dst_cid != FB_VSOCK_HOST_CID)
		return;
	c = fb_vsock_find(dev, h.dst_port, h.src_port);
	if (c && h.type != FB_VSOCK_TYPE_STREAM)
		reset_conn(c);
	else if (c)
		handle_conn_packet(c, &h, chain);
	else if (h.op != FB_VSOCK_OP_RST)
		fb_vsock_queue_stray_rst(dev, h.dst_port, h.src_port);
}

void fb_vsock_process_tx(struct fb_vsock *dev)
{
	struct fb_virtq *q = &dev->t.queues[FB_VSOCK_QUEUE_TX];
	unsigned budget = q->num;
	bool pushed = false;

	if (!fb_virtio_mmio_live(&dev->t))
		return;
	while (budget-- > 0) {
		int r = fb_virtq_pop(q, &dev->mem, &dev->chain);

		if (r < 0) {
			fb_vsock_device_error(dev, "tx queue");
			break;
		}
		if (r == 0)
			break;
		handle_chain(dev, &dev->chain);
		fb_virtq_push(q, &dev->mem, dev->chain.head, 0);
		pushed = true;
	}
	if (pushed)
		fb_virtio_mmio_used(&dev->t, FB_VSOCK_QUEUE_TX);
}

bool fb_vsock_tx_more(struct fb_vsock *dev)
{
	int more;

	if (!fb_virtio_mmio_live(&dev->t))
		return false;
	more = fb_virtq_has_avail(&dev->t.queues[FB_VSOCK_QUEUE_TX], &dev->mem);
	if (more < 0)
		fb_vsock_device_error(dev, "tx queue");
	return more > 0;
}

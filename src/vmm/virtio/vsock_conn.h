/* One host<->guest vsock stream connection: its state machine flags, credit
 * counters in both directions, and the bounded buffer of guest bytes the
 * host socket has not accepted yet. */
#ifndef FORKBOX_VMM_VIRTIO_VSOCK_CONN_H
#define FORKBOX_VMM_VIRTIO_VSOCK_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum fb_vsock_conn_state {
	FB_VSOCK_CONNECTING,  /* REQUEST queued or sent, waiting for RESPONSE */
	FB_VSOCK_ESTABLISHED, /* data flows */
	FB_VSOCK_CLOSING,     /* host closed: SHUTDOWN sent, waiting for the guest */
};

/* Control packets waiting for a guest rx buffer. */
#define FB_VSOCK_PEND_REQUEST  1u
#define FB_VSOCK_PEND_CREDIT   2u
#define FB_VSOCK_PEND_SHUTDOWN 4u
#define FB_VSOCK_PEND_RST      8u

struct fb_vsock_conn {
	uint64_t serial; /* epoll key: never reused, unlike pointers */
	int fd;		 /* device's end of the socketpair */
	uint32_t host_port, guest_port;
	enum fb_vsock_conn_state state;
	unsigned pending;
	uint32_t shutdown_flags; /* for FB_VSOCK_PEND_SHUTDOWN */
	/* When the device gives up on a guest that does not answer: set while
	 * CONNECTING and once the host end is gone (CLOCK_MONOTONIC; 0 none). */
	uint64_t deadline_ns;
	bool dead; /* freed at the end of the current I/O round */

	/* Host socket readiness (edge-triggered epoll, cleared on EAGAIN). */
	bool host_readable, host_writable;
	bool host_eof;	   /* read() returned 0: host sends no more */
	bool host_wr_shut; /* we shut down writing towards the host */
	bool host_hup;	   /* epoll saw HUP: the host end may be closed */

	/* What the guest told us. */
	bool guest_shut_send, guest_shut_rcv;
	uint32_t peer_buf_alloc, peer_fwd_cnt;

	/* Credit counters (wrap modulo 2^32 by design). */
	uint32_t tx_cnt;       /* payload bytes sent to the guest */
	uint32_t fwd_cnt;      /* guest bytes written to the host socket */
	uint32_t fwd_cnt_sent; /* fwd_cnt last advertised to the guest */

	/* Guest bytes waiting for the host socket: ring of FB_VSOCK_BUF_ALLOC. */
	uint8_t *buf;
	uint32_t buf_head, buf_used;
};

/* Bytes we may still send to the guest under its advertised credit. */
uint32_t fb_vsock_conn_peer_credit(const struct fb_vsock_conn *c);
/* Hand guest payload to the host socket: write what it takes now, buffer
 * the rest. -1 (fb_error) if the guest overran our buf_alloc. */
int fb_vsock_conn_deliver(struct fb_vsock_conn *c, const struct iovec *iov, unsigned n, size_t len);
/* Write buffered bytes while the host socket takes them, then apply a
 * pending guest shutdown. Queues RST when the host end is gone. */
void fb_vsock_conn_flush(struct fb_vsock_conn *c);
/* Mark a CREDIT_UPDATE pending if enough freed space is unadvertised. */
void fb_vsock_conn_check_credit(struct fb_vsock_conn *c);
void fb_vsock_conn_free(struct fb_vsock_conn *c);

#endif

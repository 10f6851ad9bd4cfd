/* virtio-vsock wire format (virtio 1.x, section 5.10.6): every packet starts
 * with this 44-byte little-endian header, followed by len payload bytes. */
#ifndef FORKBOX_VMM_VIRTIO_VSOCK_PROTO_H
#define FORKBOX_VMM_VIRTIO_VSOCK_PROTO_H

#include <stdint.h>

#define FB_VIRTIO_ID_VSOCK 19

struct fb_vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct fb_vsock_hdr) == 44, "virtio-vsock header is 44 bytes");

#define FB_VSOCK_TYPE_STREAM 1

enum fb_vsock_op {
	FB_VSOCK_OP_INVALID = 0,
	FB_VSOCK_OP_REQUEST = 1,
	FB_VSOCK_OP_RESPONSE = 2,
	FB_VSOCK_OP_RST = 3,
	FB_VSOCK_OP_SHUTDOWN = 4,
	FB_VSOCK_OP_RW = 5,
	FB_VSOCK_OP_CREDIT_UPDATE = 6,
	FB_VSOCK_OP_CREDIT_REQUEST = 7,
};

#define FB_VSOCK_SHUTDOWN_RCV  1 /* the sender will receive no more data */
#define FB_VSOCK_SHUTDOWN_SEND 2 /* the sender will send no more data */

/* Largest payload per packet, as Linux (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define FB_VSOCK_MAX_PKT_PAYLOAD (64 * 1024)

#define FB_VSOCK_QUEUE_RX    0
#define FB_VSOCK_QUEUE_TX    1
#define FB_VSOCK_QUEUE_EVENT 2
#define FB_VSOCK_NUM_QUEUES  3

#endif

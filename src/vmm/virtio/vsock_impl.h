/* Internals of the virtio-vsock device shared by its source files. */
#ifndef FORKBOX_VMM_VIRTIO_VSOCK_IMPL_H
#define FORKBOX_VMM_VIRTIO_VSOCK_IMPL_H

#include <pthread.h>
#include <stdbool.h>

#include "util/error.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtqueue.h"
#include "vmm/virtio/vsock.h"
#include "vmm/virtio/vsock_conn.h"
#include "vmm/virtio/vsock_proto.h"

#define FB_VSOCK_QUEUE_MAX     256
#define FB_VSOCK_MAX_CONNS     64
#define FB_VSOCK_PORT_FIRST    49152
#define FB_VSOCK_MAX_STRAY_RST 32

/* An RST owed to a guest packet that matched no connection. */
struct fb_vsock_stray {
	uint32_t host_port, guest_port;
};

struct fb_vsock {
	pthread_mutex_t lock;
	struct fb_guest_mem mem;
	uint64_t guest_cid;
	uint8_t config[8]; /* le64 guest_cid */
	struct fb_virtio_mmio t;
	fb_irq_fn irq;
	void *irq_opaque;

	int epfd, kickfd;
	pthread_t thread;
	bool running, stop;

	struct fb_vsock_conn *conns[FB_VSOCK_MAX_CONNS];
	unsigned nconns;
	unsigned rr;  /* round-robin start for fairness between connections */
	bool rx_more; /* the last rx round stopped at its budget */
	uint64_t connect_timeout_ns, close_timeout_ns;
	uint32_t next_port;
	uint64_t next_serial;
	struct fb_vsock_stray stray[FB_VSOCK_MAX_STRAY_RST];
	unsigned nstray;

	char fail_reason[FB_ERROR_MAX];
	struct fb_virtq_chain chain; /* scratch, used under the lock */
};

/* One pass of the I/O thread, also run directly by the fuzzer (no thread):
 * wait up to timeout ms (-1: no limit) for host socket events, then one
 * round under the lock. Returns the timeout for the next pass, or
 * FB_VSOCK_IO_STOP once fb_vsock_pause() asked the thread to stop. */
#define FB_VSOCK_IO_STOP (-2)
int fb_vsock_io_step(struct fb_vsock *dev, int timeout);

/* Called with dev->lock held. */
struct fb_vsock_conn *fb_vsock_find(struct fb_vsock *dev, uint32_t host_port, uint32_t guest_port);
void fb_vsock_queue_stray_rst(struct fb_vsock *dev, uint32_t host_port, uint32_t guest_port);
void fb_vsock_device_error(struct fb_vsock *dev, const char *where);
void fb_vsock_process_tx(struct fb_vsock *dev);
/* Whether tx chains are still waiting after a bounded round; a queue the
 * guest broke meanwhile is reported through fb_vsock_device_error. */
bool fb_vsock_tx_more(struct fb_vsock *dev);
void fb_vsock_process_rx(struct fb_vsock *dev);
/* Drop a connection now, whatever the guest does: its host end is closed at
 * the end of the round and the guest is sent an RST (best effort). */
void fb_vsock_abort_conn(struct fb_vsock *dev, struct fb_vsock_conn *c);
void fb_vsock_close_all(struct fb_vsock *dev);
uint64_t fb_vsock_now_ns(void);

#endif

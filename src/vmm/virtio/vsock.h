/* virtio-vsock device (virtio 1.x, section 5.10) over virtio-mmio, with the
 * host end in user space: each guest stream connection is bridged to an
 * AF_UNIX SOCK_STREAM socketpair whose other end the caller owns.
 *
 * Threads: fb_vsock_mmio_read/write come from the vCPU thread; the device
 * does its work on one I/O thread (fb_vsock_start); fb_vsock_connect may be
 * called from any thread. One mutex protects the device state. */
#ifndef FORKBOX_VMM_VIRTIO_VSOCK_H
#define FORKBOX_VMM_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"

#define FB_VSOCK_MMIO_SIZE 0x1000
#define FB_VSOCK_HOST_CID  2
/* What the device advertises as its receive buffer per connection, and the
 * most it ever buffers for a host socket that is not reading. */
#define FB_VSOCK_BUF_ALLOC (256 * 1024)

/* How long a guest may leave a host connection unanswered (REQUEST without
 * RESPONSE), and how long it may keep one open once the host end is closed
 * (unread host bytes it gives no credit for, no RST after our SHUTDOWN).
 * Past either, the device drops the connection and sends RST. */
#define FB_VSOCK_CONNECT_TIMEOUT_MS 10000
#define FB_VSOCK_CLOSE_TIMEOUT_MS   2000

struct fb_vsock;

/* Pulse the device's interrupt line (edge). Called from the I/O thread,
 * without the device lock held. */
typedef void (*fb_irq_fn)(void *opaque);

/* The device keeps a copy of *mem; the mapping must outlive the device. */
struct fb_vsock *fb_vsock_create(const struct fb_guest_mem *mem, uint64_t guest_cid, fb_irq_fn irq,
				 void *irq_opaque);
/* Stops the I/O thread, closes every connection and frees the device. */
void fb_vsock_destroy(struct fb_vsock *dev);

/* MMIO accesses (offset within the 4 KiB window; len 1/2/4/8). */
void fb_vsock_mmio_read(struct fb_vsock *dev, uint64_t offset, void *data, unsigned len);
void fb_vsock_mmio_write(struct fb_vsock *dev, uint64_t offset, const void *data, unsigned len);

/* Change the two timeouts above (tests shorten them). */
void fb_vsock_set_timeouts(struct fb_vsock *dev, unsigned connect_ms, unsigned close_ms);

/* Start the device's I/O thread. 0 or -1 + fb_error. */
int fb_vsock_start(struct fb_vsock *dev);

/* Open a host->guest stream connection to the guest's port. Returns the
 * host's end of an AF_UNIX SOCK_STREAM socketpair (blocking, close-on-exec;
 * the caller owns and closes it), or -1 + fb_error (driver not ready, too
 * many connections). Bytes written before the guest accepts are delivered
 * after; if the guest refuses (RST) the fd reads EOF or gets ECONNRESET.
 * Closing the fd (or shutdown(SHUT_WR)) tells the guest no more data comes. */
int fb_vsock_connect(struct fb_vsock *dev, uint32_t port);

/* The guest stopped for good (reset, panic, KVM error): it will answer no
 * connection again, so every host end sees EOF now instead of waiting for
 * its deadline. The device stays usable for a snapshot or destroy. */
void fb_vsock_guest_stopped(struct fb_vsock *dev);

/* Open connections (a snapshot needs 0). */
unsigned fb_vsock_connection_count(struct fb_vsock *dev);
/* Whether the guest broke a rule and the device set DEVICE_NEEDS_RESET;
 * if so and why is not NULL, copies the reason. */
int fb_vsock_failed(struct fb_vsock *dev, char *why, size_t why_len);

/* Snapshot support. pause: stop the I/O thread (state kept; start again
 * with fb_vsock_start). save: registers + queue state into a malloc'd blob;
 * an error while the I/O thread runs or connections are open. restore:
 * into a fresh device before fb_vsock_start; validates everything. */
int fb_vsock_pause(struct fb_vsock *dev);
int fb_vsock_save(struct fb_vsock *dev, void **blob, size_t *len);
int fb_vsock_restore(struct fb_vsock *dev, const void *blob, size_t len);

#endif

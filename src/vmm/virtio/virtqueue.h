/* Split virtqueues (virtio 1.x, section 2.7) seen from the device side.
 *
 * Everything in guest memory is untrusted: ring addresses, indices and every
 * descriptor are bounds-checked through fb_guest_mem_ptr(), chains are
 * bounded by the queue size, and a queue that breaks a rule is marked broken
 * (the transport then sets DEVICE_NEEDS_RESET) instead of being trusted.
 * Not thread-safe: the device serialises access with its own lock. */
#ifndef FORKBOX_VMM_VIRTIO_VIRTQUEUE_H
#define FORKBOX_VMM_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/guest_mem.h"

#define FB_VIRTQ_MAX_SIZE 256

#define FB_VIRTQ_DESC_F_NEXT	      1
#define FB_VIRTQ_DESC_F_WRITE	      2
#define FB_VIRTQ_DESC_F_INDIRECT      4
#define FB_VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct fb_virtq {
	/* Set by the driver through the transport. */
	uint16_t num;
	bool ready;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	/* Device-side progress. */
	uint16_t last_avail_idx; /* next avail ring slot to consume */
	uint16_t used_idx;	 /* next used ring slot to fill */
	bool broken;		 /* guest broke a rule: never touched again */
};

/* One descriptor chain, split into the device-readable part (out) and the
 * device-writable part (in), each as host iovecs into guest memory. */
struct fb_virtq_chain {
	uint16_t head;
	unsigned n_out, n_in;
	size_t out_len, in_len;
	struct iovec out[FB_VIRTQ_MAX_SIZE];
	struct iovec in[FB_VIRTQ_MAX_SIZE];
};

/* Forget everything (device reset). */
void fb_virtq_reset(struct fb_virtq *q);
/* Check the driver's configuration when it sets QueueReady: size a power of
 * two in 1..max, rings aligned and inside guest memory. 0 or -1 + fb_error. */
int fb_virtq_validate(const struct fb_virtq *q, const struct fb_guest_mem *mem, uint16_t max);
/* True when the queue is ready, not broken and may be used. */
bool fb_virtq_usable(const struct fb_virtq *q);
/* Take the next available chain. 1: *chain filled; 0: none available;
 * -1: the guest broke a rule (queue now broken, fb_error says why). */
int fb_virtq_pop(struct fb_virtq *q, const struct fb_guest_mem *mem, struct fb_virtq_chain *chain);
/* True if a chain is available (no state change). -1 on a broken rule. */
int fb_virtq_has_avail(struct fb_virtq *q, const struct fb_guest_mem *mem);
/* Give back the chain just popped, unused (nothing was pushed since). */
void fb_virtq_unpop(struct fb_virtq *q);
/* Return a chain to the driver with `written` bytes written to its in part. */
void fb_virtq_push(struct fb_virtq *q, const struct fb_guest_mem *mem, uint16_t head,
		   uint32_t written);
/* After pushes: whether the driver wants an interrupt (avail flags). */
bool fb_virtq_should_notify(const struct fb_virtq *q, const struct fb_guest_mem *mem);

/* Copy helpers between a flat buffer and an iovec array (guest memory). */
size_t fb_iov_copy_from(const struct iovec *iov, unsigned n, size_t skip, void *dst, size_t len);
size_t fb_iov_copy_to(const struct iovec *iov, unsigned n, size_t skip, const void *src,
		      size_t len);
/* Build iovecs covering [skip, skip+len) of iov into out (at most max). */
unsigned fb_iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
		      struct iovec *out, unsigned max);

#endif

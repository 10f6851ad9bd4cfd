/* The driver side of the vsock device's split virtqueues, as Linux's
 * virtio_mmio + virtio_ring drive them: descriptors, avail ring, used ring
 * and the queue registers. Shared by tests/unit/test_vsock.c and
 * tests/fuzz/fuzz_vsock.c; no test framework in it. */
#ifndef FORKBOX_TESTS_VSOCK_DRIVER_H
#define FORKBOX_TESTS_VSOCK_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtio/vsock.h"

struct vq_driver {
	uint8_t *mem; /* guest memory */
	uint16_t num, avail_idx, last_used;
	uint64_t desc, avail, used; /* ring addresses */
};

/* Reset the device and negotiate VIRTIO_F_VERSION_1 (status FEATURES_OK). */
void vq_driver_negotiate(struct fb_vsock *dev);
/* Lay the rings out at base (descriptors), base + avail_off, base +
 * used_off and program queue qi of the device with them (QueueReady 1). */
void vq_driver_setup(struct vq_driver *q, struct fb_vsock *dev, unsigned qi, uint8_t *mem,
		     uint16_t num, uint64_t base, uint64_t avail_off, uint64_t used_off);
void vq_driver_set_desc(struct vq_driver *q, uint16_t i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next);
/* Put head on the avail ring and publish the new index (release). */
void vq_driver_offer(struct vq_driver *q, uint16_t head);
/* Publish an avail index the driver chose (hostile drivers). */
void vq_driver_set_avail_idx(struct vq_driver *q, uint16_t idx);
/* Take the next used element; false when there is none. */
bool vq_driver_take_used(struct vq_driver *q, uint32_t *id, uint32_t *len);
/* The device's used index (acquire). */
uint16_t vq_driver_used_idx(const struct vq_driver *q);

#endif

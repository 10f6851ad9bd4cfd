/* virtio-mmio transport, version 2 (virtio 1.x, section 4.2.2): the register
 * file, feature negotiation, device status and queue configuration, shared
 * by every device model. The device embeds a struct fb_virtio_mmio and holds
 * its own lock around every call here. */
#ifndef FORKBOX_VMM_VIRTIO_MMIO_H
#define FORKBOX_VMM_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/guest_mem.h"
#include "vmm/virtio/virtqueue.h"

#define FB_VIRTIO_MMIO_MAGIC   0x74726976 /* "virt" */
#define FB_VIRTIO_MMIO_VERSION 2
#define FB_VIRTIO_VENDOR_ID    0x554d4551 /* same value QEMU uses; Linux ignores it */

#define FB_VIRTIO_MMIO_MAGIC_VALUE	   0x000
#define FB_VIRTIO_MMIO_VERSION_REG	   0x004
#define FB_VIRTIO_MMIO_DEVICE_ID	   0x008
#define FB_VIRTIO_MMIO_VENDOR_ID	   0x00c
#define FB_VIRTIO_MMIO_DEVICE_FEATURES	   0x010
#define FB_VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define FB_VIRTIO_MMIO_DRIVER_FEATURES	   0x020
#define FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define FB_VIRTIO_MMIO_QUEUE_SEL	   0x030
#define FB_VIRTIO_MMIO_QUEUE_NUM_MAX	   0x034
#define FB_VIRTIO_MMIO_QUEUE_NUM	   0x038
#define FB_VIRTIO_MMIO_QUEUE_READY	   0x044
#define FB_VIRTIO_MMIO_QUEUE_NOTIFY	   0x050
#define FB_VIRTIO_MMIO_INTERRUPT_STATUS	   0x060
#define FB_VIRTIO_MMIO_INTERRUPT_ACK	   0x064
#define FB_VIRTIO_MMIO_STATUS		   0x070
#define FB_VIRTIO_MMIO_QUEUE_DESC_LOW	   0x080
#define FB_VIRTIO_MMIO_QUEUE_DESC_HIGH	   0x084
#define FB_VIRTIO_MMIO_QUEUE_DRIVER_LOW	   0x090
#define FB_VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define FB_VIRTIO_MMIO_QUEUE_DEVICE_LOW	   0x0a0
#define FB_VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define FB_VIRTIO_MMIO_SHM_SEL		   0x0ac
#define FB_VIRTIO_MMIO_SHM_LEN_LOW	   0x0b0
#define FB_VIRTIO_MMIO_SHM_BASE_HIGH	   0x0bc
#define FB_VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define FB_VIRTIO_MMIO_CONFIG		   0x100

#define FB_VIRTIO_STATUS_ACKNOWLEDGE	    1
#define FB_VIRTIO_STATUS_DRIVER		    2
#define FB_VIRTIO_STATUS_DRIVER_OK	    4
#define FB_VIRTIO_STATUS_FEATURES_OK	    8
#define FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define FB_VIRTIO_STATUS_FAILED		    128

#define FB_VIRTIO_INT_USED   1 /* InterruptStatus: used buffer notification */
#define FB_VIRTIO_INT_CONFIG 2 /* InterruptStatus: configuration change */

#define FB_VIRTIO_F_VERSION_1 32

#define FB_VIRTIO_MMIO_MAX_QUEUES 8

struct fb_virtio_mmio_ops {
	/* The driver wrote QueueNotify (or set DRIVER_OK: queue = -1). */
	void (*notify)(void *opaque, int queue);
	/* The driver wrote 0 to Status: drop all device state. */
	void (*reset)(void *opaque);
};

struct fb_virtio_mmio {
	/* Fixed at init. */
	const struct fb_guest_mem *mem;
	uint32_t device_id;
	uint64_t device_features;
	uint16_t queue_max;
	unsigned nqueues;
	const uint8_t *config;
	size_t config_len;
	const struct fb_virtio_mmio_ops *ops;
	void *opaque;
	/* Driver-visible state (saved in snapshots). */
	uint32_t status;
	uint32_t isr;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	struct fb_virtq queues[FB_VIRTIO_MMIO_MAX_QUEUES];
	/* Set when an interrupt must be raised once the device lock is dropped. */
	bool irq_wanted;
};

void fb_virtio_mmio_init(struct fb_virtio_mmio *t, const struct fb_guest_mem *mem,
			 uint32_t device_id, uint64_t device_features, unsigned nqueues,
			 uint16_t queue_max, const uint8_t *config, size_t config_len,
			 const struct fb_virtio_mmio_ops *ops, void *opaque);
/* Reset driver-visible state (Status 0). Does not call ops->reset. */
void fb_virtio_mmio_reset(struct fb_virtio_mmio *t);
void fb_virtio_mmio_read(struct fb_virtio_mmio *t, uint64_t offset, void *data, unsigned len);
void fb_virtio_mmio_write(struct fb_virtio_mmio *t, uint64_t offset, const void *data,
			  unsigned len);
/* DRIVER_OK set and DEVICE_NEEDS_RESET clear: queues may be processed. */
bool fb_virtio_mmio_live(const struct fb_virtio_mmio *t);
/* The device (or a queue) hit a guest error: set DEVICE_NEEDS_RESET and
 * raise a configuration-change interrupt. */
void fb_virtio_mmio_fail(struct fb_virtio_mmio *t);
/* Used buffers were added to queue q: latch InterruptStatus and ask for an
 * interrupt unless the driver suppressed it. */
void fb_virtio_mmio_used(struct fb_virtio_mmio *t, unsigned q);
/* Validate every queue marked ready (used after restoring a snapshot). */
int fb_virtio_mmio_check(const struct fb_virtio_mmio *t);

#endif

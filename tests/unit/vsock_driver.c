#include "vsock_driver.h"

#include <endian.h>
#include <string.h>

#include "vmm/virtio/mmio.h"

static void mmio_w(struct fb_vsock *dev, uint64_t off, uint32_t v)
{
	fb_vsock_mmio_write(dev, off, &v, 4);
}

void vq_driver_negotiate(struct fb_vsock *dev)
{
	mmio_w(dev, FB_VIRTIO_MMIO_STATUS, 0);
	mmio_w(dev, FB_VIRTIO_MMIO_STATUS, FB_VIRTIO_STATUS_ACKNOWLEDGE | FB_VIRTIO_STATUS_DRIVER);
	mmio_w(dev, FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	mmio_w(dev, FB_VIRTIO_MMIO_DRIVER_FEATURES, 1u << (FB_VIRTIO_F_VERSION_1 - 32));
	mmio_w(dev, FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	mmio_w(dev, FB_VIRTIO_MMIO_DRIVER_FEATURES, 0);
	mmio_w(dev, FB_VIRTIO_MMIO_STATUS,
	       FB_VIRTIO_STATUS_ACKNOWLEDGE | FB_VIRTIO_STATUS_DRIVER |
		   FB_VIRTIO_STATUS_FEATURES_OK);
}

void vq_driver_setup(struct vq_driver *q, struct fb_vsock *dev, unsigned qi, uint8_t *mem,
		     uint16_t num, uint64_t base, uint64_t avail_off, uint64_t used_off)
{
	*q = (struct vq_driver){.mem = mem,
				.num = num,
				.desc = base,
				.avail = base + avail_off,
				.used = base + used_off};
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_SEL, qi);
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_NUM, num);
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
	mmio_w(dev, FB_VIRTIO_MMIO_QUEUE_READY, 1);
}

void vq_driver_set_desc(struct vq_driver *q, uint16_t i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	uint8_t *d = q->mem + q->desc + 16ULL * i;
	uint64_t a = htole64(addr);
	uint32_t l = htole32(len);
	uint16_t fl = htole16(flags), nx = htole16(next);

	memcpy(d, &a, 8);
	memcpy(d + 8, &l, 4);
	memcpy(d + 12, &fl, 2);
	memcpy(d + 14, &nx, 2);
}

void vq_driver_set_avail_idx(struct vq_driver *q, uint16_t idx)
{
	q->avail_idx = idx;
	__atomic_store_n((uint16_t *)(q->mem + q->avail + 2), htole16(idx), __ATOMIC_RELEASE);
}

void vq_driver_offer(struct vq_driver *q, uint16_t head)
{
	uint16_t h = htole16(head);

	memcpy(q->mem + q->avail + 4 + 2ULL * (q->avail_idx % q->num), &h, 2);
	vq_driver_set_avail_idx(q, (uint16_t)(q->avail_idx + 1));
}

uint16_t vq_driver_used_idx(const struct vq_driver *q)
{
	return le16toh(__atomic_load_n((uint16_t *)(q->mem + q->used + 2), __ATOMIC_ACQUIRE));
}

bool vq_driver_take_used(struct vq_driver *q, uint32_t *id, uint32_t *len)
{
	uint32_t elem[2];

	if (vq_driver_used_idx(q) == q->last_used)
		return false;
	memcpy(elem, q->mem + q->used + 4 + 8ULL * (q->last_used % q->num), sizeof(elem));
	*id = le32toh(elem[0]);
	*len = le32toh(elem[1]);
	q->last_used++;
	return true;
}

#include "vmm/virtio/mmio.h"

#include <string.h>

#include "util/error.h"

void fb_virtio_mmio_init(struct fb_virtio_mmio *t, const struct fb_guest_mem *mem,
			 uint32_t device_id, uint64_t device_features, unsigned nqueues,
			 uint16_t queue_max, const uint8_t *config, size_t config_len,
			 const struct fb_virtio_mmio_ops *ops, void *opaque)
{
	memset(t, 0, sizeof(*t));
	t->mem = mem;
	t->device_id = device_id;
	t->device_features = device_features;
	t->nqueues = nqueues < FB_VIRTIO_MMIO_MAX_QUEUES ? nqueues : FB_VIRTIO_MMIO_MAX_QUEUES;
	t->queue_max = queue_max;
	t->config = config;
	t->config_len = config_len;
	t->ops = ops;
	t->opaque = opaque;
}

void fb_virtio_mmio_reset(struct fb_virtio_mmio *t)
{
	t->status = 0;
	t->isr = 0;
	t->device_features_sel = 0;
	t->driver_features_sel = 0;
	t->driver_features = 0;
	t->queue_sel = 0;
	t->irq_wanted = false;
	for (unsigned i = 0; i < FB_VIRTIO_MMIO_MAX_QUEUES; i++)
		fb_virtq_reset(&t->queues[i]);
}

bool fb_virtio_mmio_live(const struct fb_virtio_mmio *t)
{
	return (t->status & FB_VIRTIO_STATUS_DRIVER_OK) &&
	       !(t->status & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

void fb_virtio_mmio_fail(struct fb_virtio_mmio *t)
{
	if (t->status & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	t->status |= FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if (t->status & FB_VIRTIO_STATUS_DRIVER_OK) {
		t->isr |= FB_VIRTIO_INT_CONFIG;
		t->irq_wanted = true;
	}
}

void fb_virtio_mmio_used(struct fb_virtio_mmio *t, unsigned q)
{
	if (q >= t->nqueues || !fb_virtq_should_notify(&t->queues[q], t->mem))
		return;
	t->isr |= FB_VIRTIO_INT_USED;
	t->irq_wanted = true;
}

int fb_virtio_mmio_check(const struct fb_virtio_mmio *t)
{
	for (unsigned i = 0; i < t->nqueues; i++) {
		if (t->queues[i].ready && fb_virtq_validate(&t->queues[i], t->mem, t->queue_max))
			return fb_error_prefix("queue %u", i);
	}
	return 0;
}

static struct fb_virtq *selected_queue(struct fb_virtio_mmio *t)
{
	return t->queue_sel < t->nqueues ? &t->queues[t->queue_sel] : NULL;
}

static uint32_t read_register(struct fb_virtio_mmio *t, uint64_t offset)
{
	struct fb_virtq *q = selected_queue(t);

	switch (offset) {
	case FB_VIRTIO_MMIO_MAGIC_VALUE:
		return FB_VIRTIO_MMIO_MAGIC;
	case FB_VIRTIO_MMIO_VERSION_REG:
		return FB_VIRTIO_MMIO_VERSION;
	case FB_VIRTIO_MMIO_DEVICE_ID:
		return t->device_id;
	case FB_VIRTIO_MMIO_VENDOR_ID:
		return FB_VIRTIO_VENDOR_ID;
	case FB_VIRTIO_MMIO_DEVICE_FEATURES:
		if (t->device_features_sel > 1)
			return 0;
		return (uint32_t)(t->device_features >> (32 * t->device_features_sel));
	case FB_VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? t->queue_max : 0;
	case FB_VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case FB_VIRTIO_MMIO_INTERRUPT_STATUS:
		return t->isr;
	case FB_VIRTIO_MMIO_STATUS:
		return t->status;
	case FB_VIRTIO_MMIO_SHM_LEN_LOW ... FB_VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory regions */
	case FB_VIRTIO_MMIO_CONFIG_GENERATION:
		return 0; /* config space never changes */
	default:
		return 0;
	}
}

/* Only the low bits of Status are the driver's to set; a write of 0 resets. */
static void write_status(struct fb_virtio_mmio *t, uint32_t val)
{
	uint32_t keep = t->status & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	uint64_t required = 1ULL << FB_VIRTIO_F_VERSION_1;

	if (val == 0) {
		if (t->ops->reset)
			t->ops->reset(t->opaque);
		fb_virtio_mmio_reset(t);
		return;
	}
	val &= 0xff & ~FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if ((val & FB_VIRTIO_STATUS_FEATURES_OK) && !(t->status & FB_VIRTIO_STATUS_FEATURES_OK)) {
		/* Refuse features we did not offer, and legacy (pre-1.0) drivers. */
		if ((t->driver_features & ~t->device_features) || !(t->driver_features & required))
			val &= ~FB_VIRTIO_STATUS_FEATURES_OK;
	}
	if ((val & FB_VIRTIO_STATUS_DRIVER_OK) && !(val & FB_VIRTIO_STATUS_FEATURES_OK))
		val &= ~FB_VIRTIO_STATUS_DRIVER_OK;
	bool now_live =
	    (val & FB_VIRTIO_STATUS_DRIVER_OK) && !(t->status & FB_VIRTIO_STATUS_DRIVER_OK);
	t->status = val | keep;
	if (now_live && t->ops->notify)
		t->ops->notify(t->opaque, -1);
}

static void set_half(uint64_t *reg, bool high, uint32_t val)
{
	if (high)
		*reg = (*reg & 0xffffffffULL) | ((uint64_t)val << 32);
	else
		*reg = (*reg & ~0xffffffffULL) | val;
}

static void write_queue_ready(struct fb_virtio_mmio *t, struct fb_virtq *q, uint32_t val)
{
	if (!val) {
		/* The driver tears the ring down; a new one starts from index 0. */
		q->ready = false;
		q->broken = false;
		q->last_avail_idx = 0;
		q->used_idx = 0;
		return;
	}
	if (q->ready)
		return;
	if (fb_virtq_validate(q, t->mem, t->queue_max)) {
		fb_virtio_mmio_fail(t);
		return;
	}
	q->last_avail_idx = 0;
	q->used_idx = 0;
	q->broken = false;
	q->ready = true;
}

/* Queue layout registers; ignored while the queue is live (spec 4.2.2.3). */
static void write_queue_layout(struct fb_virtq *q, uint64_t offset, uint32_t val)
{
	if (!q || q->ready)
		return;
	switch (offset) {
	case FB_VIRTIO_MMIO_QUEUE_NUM:
		q->num = val > 0xffff ? 0 : (uint16_t)val;
		break;
	case FB_VIRTIO_MMIO_QUEUE_DESC_LOW:
	case FB_VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_half(&q->desc_gpa, offset == FB_VIRTIO_MMIO_QUEUE_DESC_HIGH, val);
		break;
	case FB_VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case FB_VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
		set_half(&q->avail_gpa, offset == FB_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, val);
		break;
	case FB_VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case FB_VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		set_half(&q->used_gpa, offset == FB_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, val);
		break;
	}
}

static void write_register(struct fb_virtio_mmio *t, uint64_t offset, uint32_t val)
{
	struct fb_virtq *q = selected_queue(t);

	switch (offset) {
	case FB_VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		t->device_features_sel = val;
		break;
	case FB_VIRTIO_MMIO_DRIVER_FEATURES:
		if (t->driver_features_sel <= 1 && !(t->status & FB_VIRTIO_STATUS_FEATURES_OK))
			set_half(&t->driver_features, t->driver_features_sel == 1, val);
		break;
	case FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		t->driver_features_sel = val;
		break;
	case FB_VIRTIO_MMIO_QUEUE_SEL:
		t->queue_sel = val;
		break;
	case FB_VIRTIO_MMIO_QUEUE_READY:
		if (q)
			write_queue_ready(t, q, val);
		break;
	case FB_VIRTIO_MMIO_QUEUE_NOTIFY:
		if (val < t->nqueues && t->ops->notify)
			t->ops->notify(t->opaque, (int)val);
		break;
	case FB_VIRTIO_MMIO_INTERRUPT_ACK:
		t->isr &= ~val;
		break;
	case FB_VIRTIO_MMIO_STATUS:
		write_status(t, val);
		break;
	default:
		write_queue_layout(q, offset, val);
		break;
	}
}

void fb_virtio_mmio_read(struct fb_virtio_mmio *t, uint64_t offset, void *data, unsigned len)
{
	memset(data, 0, len);
	if (offset >= FB_VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - FB_VIRTIO_MMIO_CONFIG;

		if (off < t->config_len && len <= t->config_len - off)
			memcpy(data, t->config + off, len);
		return;
	}
	if (len == 4 && !(offset & 3)) {
		uint32_t val = read_register(t, offset);
		memcpy(data, &val, 4); /* x86 host: little-endian like the bus */
	}
}

void fb_virtio_mmio_write(struct fb_virtio_mmio *t, uint64_t offset, const void *data, unsigned len)
{
	uint32_t val;

	/* Config space is read-only for vsock; registers are 32-bit only. */
	if (offset >= FB_VIRTIO_MMIO_CONFIG || len != 4 || (offset & 3))
		return;
	memcpy(&val, data, 4);
	write_register(t, offset, val);
}

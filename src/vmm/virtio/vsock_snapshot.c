/* Snapshot of the vsock device: transport registers and queue progress.
 * Connections are not saved (saving with any open is an error): a forked VM
 * starts with none, and its guest driver finds its rings exactly as left. */
#include <stdlib.h>
#include <string.h>

#include "vmm/virtio/vsock_impl.h"

#define STATE_MAGIC   0x53565346u /* "FSVS" */
#define STATE_VERSION 1u

struct saved_queue {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t num, last_avail_idx, used_idx;
	uint8_t ready, pad;
};

struct saved_state {
	uint32_t magic, version, size, nqueues;
	uint64_t guest_cid;
	uint64_t driver_features;
	uint32_t status, isr;
	uint32_t device_features_sel, driver_features_sel;
	uint32_t queue_sel, next_port;
	struct saved_queue q[FB_VSOCK_NUM_QUEUES];
};

int fb_vsock_save(struct fb_vsock *dev, void **blob, size_t *len)
{
	struct saved_state *s;
	int ret = -1;

	pthread_mutex_lock(&dev->lock);
	if (dev->running) {
		fb_error("vsock save: the I/O thread is running (pause first)");
		goto out;
	}
	if (dev->nconns) {
		fb_error("vsock save: %u connection(s) still open", dev->nconns);
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		fb_error_errno("vsock save");
		goto out;
	}
	*s = (struct saved_state){
	    .magic = STATE_MAGIC,
	    .version = STATE_VERSION,
	    .size = sizeof(*s),
	    .nqueues = FB_VSOCK_NUM_QUEUES,
	    .guest_cid = dev->guest_cid,
	    .driver_features = dev->t.driver_features,
	    .status = dev->t.status,
	    .isr = dev->t.isr,
	    .device_features_sel = dev->t.device_features_sel,
	    .driver_features_sel = dev->t.driver_features_sel,
	    .queue_sel = dev->t.queue_sel,
	    .next_port = dev->next_port,
	};
	for (unsigned i = 0; i < FB_VSOCK_NUM_QUEUES; i++) {
		const struct fb_virtq *q = &dev->t.queues[i];

		s->q[i] = (struct saved_queue){.desc_gpa = q->desc_gpa,
					       .avail_gpa = q->avail_gpa,
					       .used_gpa = q->used_gpa,
					       .num = q->num,
					       .last_avail_idx = q->last_avail_idx,
					       .used_idx = q->used_idx,
					       .ready = q->ready};
	}
	*blob = s;
	*len = sizeof(*s);
	ret = 0;
out:
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

static int check_header(const struct fb_vsock *dev, const struct saved_state *s)
{
	if (s->magic != STATE_MAGIC || s->version != STATE_VERSION || s->size != sizeof(*s) ||
	    s->nqueues != FB_VSOCK_NUM_QUEUES)
		return fb_error("not a version %u vsock state", STATE_VERSION);
	if (s->guest_cid != dev->guest_cid)
		return fb_error("saved guest CID %llu, device has %llu",
				(unsigned long long)s->guest_cid,
				(unsigned long long)dev->guest_cid);
	if (s->driver_features & ~dev->t.device_features)
		return fb_error("saved driver features 0x%llx were never offered",
				(unsigned long long)s->driver_features);
	if ((s->status & ~0xffu) || (s->isr & ~3u))
		return fb_error("saved status 0x%x / interrupt status 0x%x invalid", s->status,
				s->isr);
	if (s->next_port < FB_VSOCK_PORT_FIRST || s->next_port > 65535)
		return fb_error("saved next port %u out of range", s->next_port);
	return 0;
}

static void apply(struct fb_vsock *dev, const struct saved_state *s)
{
	fb_virtio_mmio_reset(&dev->t);
	dev->t.driver_features = s->driver_features;
	dev->t.status = s->status;
	dev->t.isr = s->isr;
	dev->t.device_features_sel = s->device_features_sel;
	dev->t.driver_features_sel = s->driver_features_sel;
	dev->t.queue_sel = s->queue_sel;
	dev->next_port = s->next_port;
	for (unsigned i = 0; i < FB_VSOCK_NUM_QUEUES; i++) {
		struct fb_virtq *q = &dev->t.queues[i];

		q->desc_gpa = s->q[i].desc_gpa;
		q->avail_gpa = s->q[i].avail_gpa;
		q->used_gpa = s->q[i].used_gpa;
		q->num = s->q[i].num;
		q->last_avail_idx = s->q[i].last_avail_idx;
		q->used_idx = s->q[i].used_idx;
		q->ready = s->q[i].ready;
	}
}

int fb_vsock_restore(struct fb_vsock *dev, const void *blob, size_t len)
{
	struct saved_state s;
	int ret = -1;

	if (!blob || len != sizeof(s))
		return fb_error("vsock restore: state is %zu bytes, expected %zu", len, sizeof(s));
	memcpy(&s, blob, sizeof(s));
	pthread_mutex_lock(&dev->lock);
	if (dev->running || dev->nconns) {
		fb_error("vsock restore: device already in use");
		goto out;
	}
	if (check_header(dev, &s)) {
		fb_error_prefix("vsock restore");
		goto out;
	}
	apply(dev, &s);
	if (fb_virtio_mmio_check(&dev->t)) {
		fb_error_prefix("vsock restore");
		fb_virtio_mmio_reset(&dev->t);
		goto out;
	}
	ret = 0;
out:
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

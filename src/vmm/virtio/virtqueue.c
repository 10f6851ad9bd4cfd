#include "vmm/virtio/virtqueue.h"

#include <endian.h>
#include <string.h>

#include "util/error.h"

/* Guest-memory layouts (virtio 1.x split ring), all little-endian. */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define AVAIL_RING_OFF 4 /* flags, idx, then ring[num], used_event */
#define USED_RING_OFF  4 /* flags, idx, then {id, len}[num], avail_event */

void fb_virtq_reset(struct fb_virtq *q)
{
	memset(q, 0, sizeof(*q));
}

int fb_virtq_validate(const struct fb_virtq *q, const struct fb_guest_mem *mem, uint16_t max)
{
	uint64_t n = q->num;

	if (n == 0 || n > max || (n & (n - 1)))
		return fb_error("queue size %u is not a power of two in 1..%u", q->num, max);
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return fb_error("queue rings misaligned (desc 0x%llx avail 0x%llx used 0x%llx)",
				(unsigned long long)q->desc_gpa, (unsigned long long)q->avail_gpa,
				(unsigned long long)q->used_gpa);
	if (!fb_guest_mem_ptr(mem, q->desc_gpa, 16 * n) ||
	    !fb_guest_mem_ptr(mem, q->avail_gpa, 6 + 2 * n) ||
	    !fb_guest_mem_ptr(mem, q->used_gpa, 6 + 8 * n))
		return fb_error("queue rings outside guest memory");
	return 0;
}

bool fb_virtq_usable(const struct fb_virtq *q)
{
	return q->ready && !q->broken;
}

/* Ring pointers; valid because fb_virtq_validate() checked them. */
static uint16_t *avail_field(const struct fb_virtq *q, const struct fb_guest_mem *mem, size_t off)
{
	return fb_guest_mem_ptr(mem, q->avail_gpa + off, 2);
}

static int broken(struct fb_virtq *q, const char *why, unsigned val)
{
	q->broken = true;
	return fb_error("virtqueue: %s (%u)", why, val);
}

int fb_virtq_has_avail(struct fb_virtq *q, const struct fb_guest_mem *mem)
{
	uint16_t *idx_p, avail_idx, pending;

	if (!fb_virtq_usable(q))
		return 0;
	idx_p = avail_field(q, mem, 2);
	if (!idx_p)
		return broken(q, "avail ring vanished", 0);
	/* Acquire: ring entries written before idx are visible after it. */
	avail_idx = le16toh(__atomic_load_n(idx_p, __ATOMIC_ACQUIRE));
	pending = (uint16_t)(avail_idx - q->last_avail_idx);
	if (pending > q->num)
		return broken(q, "avail idx jumped by more than the queue size", pending);
	return pending > 0;
}

static int add_segment(struct fb_virtq *q, struct fb_virtq_chain *c, const struct vring_desc *d,
		       void *host)
{
	struct iovec seg = {.iov_base = host, .iov_len = d->len};

	if (d->flags & FB_VIRTQ_DESC_F_WRITE) {
		c->in[c->n_in++] = seg;
		c->in_len += d->len;
		return 0;
	}
	if (c->n_in)
		return broken(q, "readable descriptor after a writable one", d->next);
	c->out[c->n_out++] = seg;
	c->out_len += d->len;
	return 0;
}

/* Copy descriptor i out of guest memory once, so later checks and uses see
 * the same values even if the guest rewrites it concurrently. */
static int read_desc(struct fb_virtq *q, const struct fb_guest_mem *mem, uint16_t i,
		     struct vring_desc *d)
{
	const void *p = fb_guest_mem_ptr(mem, q->desc_gpa + 16ULL * i, 16);

	if (!p)
		return broken(q, "descriptor table vanished", i);
	memcpy(d, p, sizeof(*d));
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
	return 0;
}

static int walk_chain(struct fb_virtq *q, const struct fb_guest_mem *mem, uint16_t head,
		      struct fb_virtq_chain *c)
{
	uint16_t i = head;
	unsigned count;

	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	for (count = 0;; count++) {
		struct vring_desc d;
		void *host;

		if (count >= q->num)
			return broken(q, "descriptor chain longer than the queue (loop?)", head);
		if (read_desc(q, mem, i, &d))
			return -1;
		if (d.flags & FB_VIRTQ_DESC_F_INDIRECT)
			return broken(q, "indirect descriptor (not negotiated)", i);
		host = fb_guest_mem_ptr(mem, d.addr, d.len);
		if (!host)
			return broken(q, "descriptor buffer outside guest memory", i);
		if (add_segment(q, c, &d, host))
			return -1;
		if (!(d.flags & FB_VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= q->num)
			return broken(q, "descriptor next index out of range", d.next);
		i = d.next;
	}
}

int fb_virtq_pop(struct fb_virtq *q, const struct fb_guest_mem *mem, struct fb_virtq_chain *chain)
{
	uint16_t *slot, head;
	int avail = fb_virtq_has_avail(q, mem);

	if (avail <= 0)
		return avail;
	slot = avail_field(q, mem, AVAIL_RING_OFF + 2ULL * (q->last_avail_idx % q->num));
	if (!slot)
		return broken(q, "avail ring vanished", 0);
	head = le16toh(__atomic_load_n(slot, __ATOMIC_RELAXED));
	if (head >= q->num)
		return broken(q, "avail ring head index out of range", head);
	if (walk_chain(q, mem, head, chain))
		return -1;
	q->last_avail_idx++;
	return 1;
}

void fb_virtq_unpop(struct fb_virtq *q)
{
	q->last_avail_idx--;
}

void fb_virtq_push(struct fb_virtq *q, const struct fb_guest_mem *mem, uint16_t head,
		   uint32_t written)
{
	uint8_t *used = fb_guest_mem_ptr(mem, q->used_gpa, 6 + 8ULL * q->num);
	uint32_t elem[2] = {htole32(head), htole32(written)};

	if (!used || !fb_virtq_usable(q))
		return;
	memcpy(used + USED_RING_OFF + 8ULL * (q->used_idx % q->num), elem, sizeof(elem));
	q->used_idx++;
	/* Release: the element is visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)(used + 2), htole16(q->used_idx), __ATOMIC_RELEASE);
}

bool fb_virtq_should_notify(const struct fb_virtq *q, const struct fb_guest_mem *mem)
{
	uint16_t *flags_p;

	if (!fb_virtq_usable(q))
		return false;
	/* Order our used idx store before reading the driver's flags. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags_p = fb_guest_mem_ptr(mem, q->avail_gpa, 2);
	if (!flags_p)
		return true;
	return !(le16toh(__atomic_load_n(flags_p, __ATOMIC_RELAXED)) &
		 FB_VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Copies len bytes between buf and the iovec's bytes from offset skip on:
 * into the iovec when to_iov, out of it otherwise. Returns bytes copied. */
static size_t iov_copy(const struct iovec *iov, unsigned n, size_t skip, uint8_t *buf, size_t len,
		       bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, take;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		take = seg - skip < len - done ? seg - skip : len - done;
		uint8_t *at = (uint8_t *)iov[i].iov_base + skip;
		if (to_iov)
			memcpy(at, buf + done, take);
		else
			memcpy(buf + done, at, take);
		done += take;
		skip = 0;
	}
	return done;
}

size_t fb_iov_copy_from(const struct iovec *iov, unsigned n, size_t skip, void *dst, size_t len)
{
	return iov_copy(iov, n, skip, dst, len, false);
}

size_t fb_iov_copy_to(const struct iovec *iov, unsigned n, size_t skip, const void *src, size_t len)
{
	/* Only read through buf when to_iov is set. */
	return iov_copy(iov, n, skip, (uint8_t *)(uintptr_t)src, len, true);
}

unsigned fb_iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
		      struct iovec *out, unsigned max)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len > 0 && k < max; i++) {
		size_t seg = iov[i].iov_len, take;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		take = seg - skip < len ? seg - skip : len;
		if (take == 0)
			continue;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k].iov_len = take;
		k++;
		len -= take;
		skip = 0;
	}
	return k;
}

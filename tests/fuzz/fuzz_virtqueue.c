/* libFuzzer target: the split-virtqueue walker (src/vmm/virtio/virtqueue.c)
 * over a guest memory image and queue registers taken from the input.
 *
 * Input: struct header below, then the first bytes of guest memory (the
 * rest is zero). Guest memory is its own heap block, so ASan reports any
 * access outside it; every chain the walker returns is also checked to lie
 * inside guest memory and to add up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/guest_mem.h"
#include "vmm/virtio/virtqueue.h"

#define MEM_SIZE (32 * 1024)

struct fuzz_header {
	uint16_t num;			   /* queue size as the driver wrote it */
	uint16_t desc, avail, used;	   /* ring addresses, in guest memory */
	uint16_t last_avail_idx, used_idx; /* device progress (a restored snapshot) */
	uint8_t flags;			   /* bit 0: high address bits; bit 1: unpop odd chains */
	uint8_t high;			   /* added << 32 to the addresses when bit 0 */
} __attribute__((packed));

static void check_iov(const struct fb_guest_mem *mem, const struct iovec *iov, unsigned n,
		      size_t total)
{
	size_t sum = 0;

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;

		if (p < mem->host || iov[i].iov_len > mem->size ||
		    (size_t)(p - mem->host) > mem->size - iov[i].iov_len)
			abort(); /* a segment outside guest memory */
		sum += iov[i].iov_len;
	}
	if (sum != total)
		abort();
}

/* Use a chain the way the vsock device does: read the out part, write the
 * in part, slice both. */
static uint32_t use_chain(const struct fb_guest_mem *mem, const struct fb_virtq_chain *c)
{
	static uint8_t scratch[MEM_SIZE];
	struct iovec slice[FB_VIRTQ_MAX_SIZE];

	if (c->n_out + c->n_in > FB_VIRTQ_MAX_SIZE)
		abort();
	check_iov(mem, c->out, c->n_out, c->out_len);
	check_iov(mem, c->in, c->n_in, c->in_len);
	size_t got = fb_iov_copy_from(c->out, c->n_out, 44, scratch, sizeof(scratch));
	if (got > c->out_len)
		abort();
	size_t put = fb_iov_copy_to(c->in, c->n_in, 0, scratch, got);
	unsigned k = fb_iov_slice(c->in, c->n_in, 44, 4096, slice, FB_VIRTQ_MAX_SIZE);
	check_iov(mem, slice, k, k ? c->in_len - 44 < 4096 ? c->in_len - 44 : 4096 : 0);
	return (uint32_t)put;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_header h;
	struct fb_virtq q;
	static struct fb_virtq_chain chain;

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	data += sizeof(h);
	size -= sizeof(h);

	uint8_t *host = calloc(1, MEM_SIZE);
	if (!host)
		return 0;
	memcpy(host, data, size < MEM_SIZE ? size : MEM_SIZE);
	struct fb_guest_mem mem = {.host = host, .size = MEM_SIZE};
	uint64_t high = (h.flags & 1) ? (uint64_t)h.high << 32 : 0;

	fb_virtq_reset(&q);
	q.num = h.num;
	q.desc_gpa = high | h.desc;
	q.avail_gpa = high | h.avail;
	q.used_gpa = high | h.used;
	if (fb_virtq_validate(&q, &mem, FB_VIRTQ_MAX_SIZE) == 0) {
		q.ready = true;
		q.last_avail_idx = h.last_avail_idx;
		q.used_idx = h.used_idx;
		for (unsigned round = 0; round < 2u * q.num + 2; round++) {
			int r = fb_virtq_pop(&q, &mem, &chain);

			if (r <= 0)
				break;
			if ((h.flags & 2) && (round & 1)) {
				fb_virtq_unpop(&q);
				if (fb_virtq_pop(&q, &mem, &chain) <= 0)
					break;
			}
			fb_virtq_push(&q, &mem, chain.head, use_chain(&mem, &chain));
			fb_virtq_should_notify(&q, &mem);
		}
		fb_virtq_has_avail(&q, &mem);
	}
	free(host);
	return 0;
}

/* Split virtqueue and virtio-mmio transport against hostile guest input.
 * Guest memory sits at the very end of a mapping, followed by a PROT_NONE
 * guard page: any read or write past it crashes the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/guest_mem.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/virtqueue.h"

#define MEM_SIZE  (64 * 1024)
#define QNUM	  8
#define DESC_GPA  0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA  0x3000

struct fixture {
	uint8_t *map;
	size_t map_len;
	struct fb_guest_mem mem;
	struct fb_virtq q;
	struct fb_virtq_chain chain;
	uint16_t avail_idx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	assert_non_null(f);
	f->map_len = MEM_SIZE + page;
	f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(f->map != MAP_FAILED);
	assert_int_equal(mprotect(f->map + MEM_SIZE, page, PROT_NONE), 0);
	f->mem = (struct fb_guest_mem){.host = f->map, .size = MEM_SIZE};
	f->q = (struct fb_virtq){.num = QNUM,
				 .desc_gpa = DESC_GPA,
				 .avail_gpa = AVAIL_GPA,
				 .used_gpa = USED_GPA,
				 .ready = true};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	munmap(f->map, f->map_len);
	free(f);
	return 0;
}

static void set_desc(struct fixture *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t *d = f->map + DESC_GPA + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

static void offer(struct fixture *f, uint16_t head)
{
	uint16_t *ring = (uint16_t *)(f->map + AVAIL_GPA + 4);

	ring[f->avail_idx % QNUM] = head;
	f->avail_idx++;
	__atomic_store_n((uint16_t *)(f->map + AVAIL_GPA + 2), f->avail_idx, __ATOMIC_RELEASE);
}

static void test_guest_mem_bounds(void **state)
{
	struct fixture *f = *state;

	assert_ptr_equal(fb_guest_mem_ptr(&f->mem, 0, MEM_SIZE), f->map);
	assert_ptr_equal(fb_guest_mem_ptr(&f->mem, MEM_SIZE, 0), f->map + MEM_SIZE);
	assert_null(fb_guest_mem_ptr(&f->mem, MEM_SIZE, 1));
	assert_null(fb_guest_mem_ptr(&f->mem, MEM_SIZE - 1, 2));
	assert_null(fb_guest_mem_ptr(&f->mem, UINT64_MAX, 2));
	assert_null(fb_guest_mem_ptr(&f->mem, 16, UINT64_MAX));
	assert_null(fb_guest_mem_ptr(&f->mem, UINT64_MAX - 15, 32));
	assert_null(fb_guest_mem_ptr(NULL, 0, 1));
}

static void test_validate(void **state)
{
	struct fixture *f = *state;
	struct fb_virtq q = f->q;

	assert_int_equal(fb_virtq_validate(&q, &f->mem, 256), 0);
	q.num = 6; /* not a power of two */
	assert_int_equal(fb_virtq_validate(&q, &f->mem, 256), -1);
	q.num = 0;
	assert_int_equal(fb_virtq_validate(&q, &f->mem, 256), -1);
	q.num = 512; /* above the maximum */
	assert_int_equal(fb_virtq_validate(&q, &f->mem, 256), -1);
	q = f->q;
	q.desc_gpa = DESC_GPA + 8; /* misaligned */
	assert_int_equal(fb_virtq_validate(&q, &f->mem, 256), -1);
	q = f->q;
	q.used_gpa = MEM_SIZE - 8; /* used ring runs off the end */
	assert_int_equal(fb_virtq_validate(&q, &f->mem, 256), -1);
	q = f->q;
	q.avail_gpa = UINT64_MAX - 1; /* wraps */
	assert_int_equal(fb_virtq_validate(&q, &f->mem, 256), -1);
}

static void test_pop_push(void **state)
{
	struct fixture *f = *state;
	uint32_t used[2];
	uint16_t used_idx;

	memcpy(f->map + 0x8000, "request", 7);
	set_desc(f, 3, 0x8000, 7, FB_VIRTQ_DESC_F_NEXT, 5);
	set_desc(f, 5, 0x9000, 100, FB_VIRTQ_DESC_F_WRITE, 0);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 0);
	offer(f, 3);
	assert_int_equal(fb_virtq_has_avail(&f->q, &f->mem), 1);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 1);
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(f->chain.n_out, 1);
	assert_int_equal(f->chain.n_in, 1);
	assert_int_equal(f->chain.out_len, 7);
	assert_int_equal(f->chain.in_len, 100);
	assert_memory_equal(f->chain.out[0].iov_base, "request", 7);
	assert_ptr_equal(f->chain.in[0].iov_base, f->map + 0x9000);
	fb_virtq_push(&f->q, &f->mem, f->chain.head, 42);
	memcpy(&used_idx, f->map + USED_GPA + 2, 2);
	memcpy(used, f->map + USED_GPA + 4, 8);
	assert_int_equal(used_idx, 1);
	assert_int_equal(used[0], 3);
	assert_int_equal(used[1], 42);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 0);
	assert_true(fb_virtq_should_notify(&f->q, &f->mem));
	*(uint16_t *)(f->map + AVAIL_GPA) = FB_VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_false(fb_virtq_should_notify(&f->q, &f->mem));
}

static void test_unpop(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, 0x8000, 16, FB_VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 1);
	fb_virtq_unpop(&f->q);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 1);
	assert_int_equal(f->chain.head, 0);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 0);
}

/* Offer head 0 after `prepare` wrote hostile descriptors: the pop must fail,
 * mark the queue broken and never touch it again. */
static void expect_broken(struct fixture *f)
{
	offer(f, 0);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), -1);
	assert_true(f->q.broken);
	assert_false(fb_virtq_usable(&f->q));
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 0);
}

static void test_desc_addr_out_of_range(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, MEM_SIZE, 1, 0, 0);
	expect_broken(f);
}

static void test_desc_len_overflow(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, MEM_SIZE - 16, UINT32_MAX, FB_VIRTQ_DESC_F_WRITE, 0);
	expect_broken(f);
}

static void test_desc_addr_wraps(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, UINT64_MAX - 7, 16, 0, 0);
	expect_broken(f);
}

static void test_chain_loop(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, 0x8000, 4, FB_VIRTQ_DESC_F_NEXT, 1);
	set_desc(f, 1, 0x8000, 4, FB_VIRTQ_DESC_F_NEXT, 0);
	expect_broken(f);
}

static void test_self_loop(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, 0x8000, 4, FB_VIRTQ_DESC_F_NEXT | FB_VIRTQ_DESC_F_WRITE, 0);
	expect_broken(f);
}

static void test_next_out_of_range(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, 0x8000, 4, FB_VIRTQ_DESC_F_NEXT, QNUM);
	expect_broken(f);
}

static void test_head_out_of_range(void **state)
{
	struct fixture *f = *state;
	uint16_t *ring = (uint16_t *)(f->map + AVAIL_GPA + 4);

	ring[0] = 0xffff;
	__atomic_store_n((uint16_t *)(f->map + AVAIL_GPA + 2), 1, __ATOMIC_RELEASE);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), -1);
	assert_true(f->q.broken);
}

static void test_avail_idx_jump(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, 0x8000, 4, 0, 0);
	__atomic_store_n((uint16_t *)(f->map + AVAIL_GPA + 2), QNUM + 1, __ATOMIC_RELEASE);
	assert_int_equal(fb_virtq_has_avail(&f->q, &f->mem), -1);
	assert_true(f->q.broken);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 0);
}

static void test_read_after_write(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, 0x8000, 4, FB_VIRTQ_DESC_F_NEXT | FB_VIRTQ_DESC_F_WRITE, 1);
	set_desc(f, 1, 0x9000, 4, 0, 0);
	expect_broken(f);
}

static void test_indirect_refused(void **state)
{
	struct fixture *f = *state;

	set_desc(f, 0, 0x8000, 16, FB_VIRTQ_DESC_F_INDIRECT, 0);
	expect_broken(f);
}

static void test_full_ring_chain(void **state)
{
	struct fixture *f = *state;

	/* A chain using every descriptor once is legal (exactly num long). */
	for (uint16_t i = 0; i < QNUM; i++)
		set_desc(f, i, 0x8000 + 16 * i, 16, i + 1 < QNUM ? FB_VIRTQ_DESC_F_NEXT : 0, i + 1);
	offer(f, 0);
	assert_int_equal(fb_virtq_pop(&f->q, &f->mem, &f->chain), 1);
	assert_int_equal(f->chain.n_out, QNUM);
	assert_int_equal(f->chain.out_len, 16 * QNUM);
}

static void test_iov_helpers(void **state)
{
	(void)state;
	char a[4], b[6], out[10];
	struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}}, slice[2];

	assert_int_equal(fb_iov_copy_to(iov, 2, 2, "abcdefgh", 8), 8);
	assert_memory_equal(a + 2, "ab", 2);
	assert_memory_equal(b, "cdefgh", 6);
	assert_int_equal(fb_iov_copy_from(iov, 2, 3, out, 10), 7);
	assert_memory_equal(out, "bcdefgh", 7);
	assert_int_equal(fb_iov_slice(iov, 2, 3, 4, slice, 2), 2);
	assert_ptr_equal(slice[0].iov_base, a + 3);
	assert_int_equal(slice[0].iov_len, 1);
	assert_int_equal(slice[1].iov_len, 3);
}

/* Transport: register file and negotiation, with a 4-byte config space. */
static int notified = -2, resets;
static void on_notify(void *opaque, int q)
{
	(void)opaque;
	notified = q;
}
static void on_reset(void *opaque)
{
	(void)opaque;
	resets++;
}
static const struct fb_virtio_mmio_ops ops = {.notify = on_notify, .reset = on_reset};
static const uint8_t test_config[4] = {1, 2, 3, 4};

static uint32_t rd(struct fb_virtio_mmio *t, uint64_t off)
{
	uint32_t v;
	fb_virtio_mmio_read(t, off, &v, 4);
	return v;
}

static void wr(struct fb_virtio_mmio *t, uint64_t off, uint32_t v)
{
	fb_virtio_mmio_write(t, off, &v, 4);
}

static void init_transport(struct fixture *f, struct fb_virtio_mmio *t)
{
	fb_virtio_mmio_init(t, &f->mem, 19, 1ULL << FB_VIRTIO_F_VERSION_1, 2, 256, test_config,
			    sizeof(test_config), &ops, NULL);
	wr(t, FB_VIRTIO_MMIO_STATUS, FB_VIRTIO_STATUS_ACKNOWLEDGE | FB_VIRTIO_STATUS_DRIVER);
}

static void test_mmio_registers(void **state)
{
	struct fixture *f = *state;
	struct fb_virtio_mmio t;
	uint16_t half;

	init_transport(f, &t);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_VERSION_REG), 2);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_DEVICE_ID), 19);
	wr(&t, FB_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr(&t, FB_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_DEVICE_FEATURES), 1);
	wr(&t, FB_VIRTIO_MMIO_QUEUE_SEL, 1);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	wr(&t, FB_VIRTIO_MMIO_QUEUE_SEL, 2); /* no such queue */
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_CONFIG), 0x04030201);
	fb_virtio_mmio_read(&t, FB_VIRTIO_MMIO_CONFIG + 2, &half, 2);
	assert_int_equal(half, 0x0403);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_CONFIG + 4), 0); /* past the config */
	wr(&t, FB_VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(notified, 1);
	notified = -2;
	wr(&t, FB_VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	assert_int_equal(notified, -2);
}

static void negotiate(struct fb_virtio_mmio *t, uint32_t lo, uint32_t hi)
{
	wr(t, FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(t, FB_VIRTIO_MMIO_DRIVER_FEATURES, lo);
	wr(t, FB_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(t, FB_VIRTIO_MMIO_DRIVER_FEATURES, hi);
	wr(t, FB_VIRTIO_MMIO_STATUS, rd(t, FB_VIRTIO_MMIO_STATUS) | FB_VIRTIO_STATUS_FEATURES_OK);
}

static void test_mmio_features(void **state)
{
	struct fixture *f = *state;
	struct fb_virtio_mmio t;

	init_transport(f, &t);
	negotiate(&t, 0, 0); /* legacy driver without VERSION_1 */
	assert_false(rd(&t, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_FEATURES_OK);
	init_transport(f, &t);
	negotiate(&t, 1u << 29, 1); /* EVENT_IDX was not offered */
	assert_false(rd(&t, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_FEATURES_OK);
	init_transport(f, &t);
	negotiate(&t, 0, 1);
	assert_true(rd(&t, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_FEATURES_OK);
	notified = -2;
	wr(&t, FB_VIRTIO_MMIO_STATUS, rd(&t, FB_VIRTIO_MMIO_STATUS) | FB_VIRTIO_STATUS_DRIVER_OK);
	assert_true(fb_virtio_mmio_live(&t));
	assert_int_equal(notified, -1);
	resets = 0;
	wr(&t, FB_VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(resets, 1);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(t.driver_features, 0);
}

static void setup_queue(struct fb_virtio_mmio *t, uint32_t num, uint64_t desc)
{
	wr(t, FB_VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(t, FB_VIRTIO_MMIO_QUEUE_NUM, num);
	wr(t, FB_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(t, FB_VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(t, FB_VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL_GPA);
	wr(t, FB_VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED_GPA);
	wr(t, FB_VIRTIO_MMIO_QUEUE_READY, 1);
}

static void test_mmio_queue_setup(void **state)
{
	struct fixture *f = *state;
	struct fb_virtio_mmio t;

	init_transport(f, &t);
	negotiate(&t, 0, 1);
	setup_queue(&t, 8, DESC_GPA);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_QUEUE_READY), 1);
	assert_int_equal(t.queues[0].num, 8);
	wr(&t, FB_VIRTIO_MMIO_QUEUE_NUM, 4); /* ignored while ready */
	assert_int_equal(t.queues[0].num, 8);
	wr(&t, FB_VIRTIO_MMIO_QUEUE_READY, 0);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_QUEUE_READY), 0);
	assert_false(rd(&t, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	setup_queue(&t, 12, DESC_GPA); /* not a power of two */
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(rd(&t, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	init_transport(f, &t);
	negotiate(&t, 0, 1);
	setup_queue(&t, 8, 0xffffffff00000000ULL); /* outside guest memory */
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_QUEUE_READY), 0);
	assert_true(rd(&t, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* The driver cannot clear NEEDS_RESET by writing Status, only reset. */
	wr(&t, FB_VIRTIO_MMIO_STATUS, FB_VIRTIO_STATUS_ACKNOWLEDGE);
	assert_true(rd(&t, FB_VIRTIO_MMIO_STATUS) & FB_VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	wr(&t, FB_VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_STATUS), 0);
}

static void test_mmio_interrupts(void **state)
{
	struct fixture *f = *state;
	struct fb_virtio_mmio t;

	init_transport(f, &t);
	negotiate(&t, 0, 1);
	setup_queue(&t, 8, DESC_GPA);
	wr(&t, FB_VIRTIO_MMIO_STATUS, rd(&t, FB_VIRTIO_MMIO_STATUS) | FB_VIRTIO_STATUS_DRIVER_OK);
	fb_virtio_mmio_used(&t, 0);
	assert_true(t.irq_wanted);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_INTERRUPT_STATUS), FB_VIRTIO_INT_USED);
	wr(&t, FB_VIRTIO_MMIO_INTERRUPT_ACK, FB_VIRTIO_INT_USED);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	fb_virtio_mmio_fail(&t);
	assert_int_equal(rd(&t, FB_VIRTIO_MMIO_INTERRUPT_STATUS), FB_VIRTIO_INT_CONFIG);
	assert_false(fb_virtio_mmio_live(&t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_guest_mem_bounds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_push, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unpop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_desc_addr_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_desc_len_overflow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_desc_addr_wraps, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_next_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_head_out_of_range, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_avail_idx_jump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_after_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_ring_chain, setup, teardown),
	    cmocka_unit_test(test_iov_helpers),
	    cmocka_unit_test_setup_teardown(test_mmio_registers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mmio_features, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mmio_queue_setup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mmio_interrupts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

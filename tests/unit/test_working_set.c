/* The working set with the ring-3 micro-guest, natively (PVM included):
 * prefetching maps the set's read pages into a fork without copying any
 * (by whichever method the kernel takes: KVM_PRE_FAULT_MEMORY, else
 * MADV_POPULATE_READ, else reads) and copies its written pages ahead, with
 * the template's contents; recording marks the pages a run read as read
 * and those it wrote as written (guest_pages.c). */
#include "microguest_vmm.h"

#include "util/error.h"
#include "vmm/fork.h"
#include "vmm/guest_pages.h"
#include "vmm/kvm.h"
#include "vmm/template_ram.h"
#include "vmm/working_set.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define PAGES	   (MG_MEM_SIZE / FB_GUEST_PAGE_SIZE)
#define TOUCH_PAGE (MG_TOUCH_GPA / FB_GUEST_PAGE_SIZE)

struct fixture {
	struct mg_forkable fk;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	if (mg_forkable_open(&f->fk, 100) < 0)
		fail_msg("setup: %s", fb_error_last());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mg_forkable_close(&f->fk);
	free(f);
	return 0;
}

static struct fb_vm *fork_vm(struct fixture *f)
{
	struct fb_fork_options fo = {.ram = f->fk.ram, .serial_fd = -1};
	struct fb_vm *vm = fb_fork_create(&f->fk.kvm, f->fk.t, &fo);
	if (!vm)
		fail_msg("fork: %s", fb_error_last());
	return vm;
}

static bool marked(const uint8_t *bits, uint64_t page)
{
	return bits[page / 8] & (1u << (page % 8));
}

static void test_prefetch_maps_without_copying(void **state)
{
	struct fixture *f = *state;
	uint8_t bits[PAGES / 8] = {0};
	for (uint64_t p = TOUCH_PAGE; p < TOUCH_PAGE + 100; p++)
		bits[p / 8] |= (uint8_t)(1u << (p % 8));
	struct fb_working_set ws = {.bits = bits, .pages = PAGES};
	assert_int_equal(fb_working_set_count(&ws), 100);
	_Atomic int method = FB_PREFETCH_UNKNOWN;
	struct fb_vm *vm = fork_vm(f);
	struct fb_guest_page_counts before, after;
	assert_int_equal(fb_guest_pages_count(vm->mem.host, vm->mem.size, &before), 0);
	if (fb_working_set_prefetch(vm, &ws, &method) < 0)
		fail_msg("prefetch: %s", fb_error_last());
	assert_int_equal(fb_guest_pages_count(vm->mem.host, vm->mem.size, &after), 0);
	fprintf(stderr, "# prefetch by %s: %llu pages mapped\n", fb_prefetch_method_name(method),
		(unsigned long long)(after.shared - before.shared));
	assert_int_not_equal(method, FB_PREFETCH_UNKNOWN);
	/* KVM_PRE_FAULT_MEMORY maps in KVM only; the other two in the host. */
	if (method != FB_PREFETCH_KVM)
		assert_true(after.shared >= before.shared + 100);
	assert_int_equal(after.copied, before.copied);
	/* The guest still reads the template's data. */
	assert_int_equal(mg_vmm_set_rip(vm, MG_READER_GPA), 0);
	assert_int_equal(mg_vmm_run_to_out(vm), 0);
	fb_vm_destroy(vm);
}

/* Pages a run read are marked, pages it wrote (copies) are not. */
static void test_record_marks_read_not_written(void **state)
{
	struct fixture *f = *state;
	uint8_t read_bits[PAGES / 8] = {0}, write_bits[PAGES / 8] = {0};
	struct fb_vm *vm = fork_vm(f);
	assert_int_equal(mg_vmm_set_rip(vm, MG_READER_GPA), 0);
	assert_int_equal(mg_vmm_run_to_out(vm), 0);
	assert_int_equal(fb_guest_pages_mark(vm->mem.host, vm->mem.size, read_bits, write_bits), 0);
	fb_vm_destroy(vm);
	for (uint64_t p = TOUCH_PAGE; p < TOUCH_PAGE + MG_TOUCH_PAGES; p++)
		if (marked(write_bits, p))
			fail_msg("page %llu only read but recorded written", (unsigned long long)p);
	vm = fork_vm(f);
	assert_int_equal(mg_vmm_set_rip(vm, MG_WRITER_GPA), 0);
	assert_int_equal(mg_vmm_run_to_out(vm), 0);
	uint8_t shared_bits[PAGES / 8] = {0};
	assert_int_equal(fb_guest_pages_mark(vm->mem.host, vm->mem.size, shared_bits, write_bits),
			 0);
	struct fb_guest_page_counts c;
	assert_int_equal(fb_guest_pages_count(vm->mem.host, vm->mem.size, &c), 0);
	assert_true(c.copied >= MG_TOUCH_PAGES);
	fb_vm_destroy(vm);
	for (uint64_t p = TOUCH_PAGE; p < TOUCH_PAGE + MG_TOUCH_PAGES; p++) {
		if (!marked(read_bits, p))
			fail_msg("page %llu read but not recorded", (unsigned long long)p);
		if (!marked(write_bits, p))
			fail_msg("page %llu written but not recorded written",
				 (unsigned long long)p);
		if (marked(shared_bits, p))
			fail_msg("page %llu written but recorded read", (unsigned long long)p);
	}
}

/* Present pages of vm's mapping in [first, first + n). */
static uint64_t present(struct fb_vm *vm, uint64_t first, uint64_t n)
{
	struct fb_guest_page_counts c;
	assert_int_equal(fb_guest_pages_count(vm->mem.host + first * FB_GUEST_PAGE_SIZE,
					      n * FB_GUEST_PAGE_SIZE, &c),
			 0);
	return c.shared + c.copied;
}

/* One read of a template page maps its neighbours too (fault-around, the
 * kernel's default), except where fault-around is taken off: then a
 * mapping holds exactly the pages touched, as a reader run shows (its
 * MG_TOUCH_PAGES, code and counter, not more). */
static void test_no_fault_around(void **state)
{
	struct fixture *f = *state;
	struct fb_vm *plain = fork_vm(f), *vm = fork_vm(f);
	int uffd = fb_guest_pages_no_fault_around(vm->mem.host, vm->mem.size);
	if (uffd < 0)
		fail_msg("%s", fb_error_last());
	uint64_t page = TOUCH_PAGE + 1;
	(void)*(volatile uint8_t *)(plain->mem.host + page * FB_GUEST_PAGE_SIZE);
	(void)*(volatile uint8_t *)(vm->mem.host + page * FB_GUEST_PAGE_SIZE);
	uint64_t around = present(plain, TOUCH_PAGE, 16), exact = present(vm, TOUCH_PAGE, 16);
	fprintf(stderr, "# one read maps %llu pages, %llu without fault-around\n",
		(unsigned long long)around, (unsigned long long)exact);
	assert_true(around > 1);
	assert_int_equal(exact, 1);
	assert_int_equal(mg_vmm_set_rip(vm, MG_READER_GPA), 0);
	assert_int_equal(mg_vmm_run_to_out(vm), 0);
	uint64_t mapped = present(vm, 0, PAGES);
	assert_true(mapped >= MG_TOUCH_PAGES && mapped <= MG_TOUCH_PAGES + 8);
	close(uffd);
	fb_vm_destroy(plain);
	fb_vm_destroy(vm);
}

/* Written pages are copied ahead: private before the guest runs, with the
 * template's contents, and the guest's writes copy nothing more. */
static void test_prefetch_copies_written_pages(void **state)
{
	struct fixture *f = *state;
	uint8_t read_bits[PAGES / 8] = {0}, copy_bits[PAGES / 8] = {0};
	for (uint64_t p = TOUCH_PAGE; p < TOUCH_PAGE + MG_TOUCH_PAGES; p++)
		copy_bits[p / 8] |= (uint8_t)(1u << (p % 8));
	struct fb_working_set ws = {.bits = read_bits, .copy_bits = copy_bits, .pages = PAGES};
	assert_int_equal(fb_working_set_count(&ws), 0);
	assert_int_equal(fb_working_set_count_copy(&ws), MG_TOUCH_PAGES);
	_Atomic int method = FB_PREFETCH_UNKNOWN;
	struct fb_vm *vm = fork_vm(f), *plain = fork_vm(f);
	struct fb_guest_page_counts before, after, ran;
	assert_int_equal(fb_guest_pages_count(vm->mem.host, vm->mem.size, &before), 0);
	if (fb_working_set_prefetch(vm, &ws, &method) < 0)
		fail_msg("prefetch: %s", fb_error_last());
	assert_int_equal(fb_guest_pages_count(vm->mem.host, vm->mem.size, &after), 0);
	assert_true(after.copied >= before.copied + MG_TOUCH_PAGES);
	assert_memory_equal(vm->mem.host + MG_TOUCH_GPA, plain->mem.host + MG_TOUCH_GPA,
			    (size_t)MG_TOUCH_PAGES * FB_GUEST_PAGE_SIZE);
	assert_int_equal(mg_vmm_set_rip(vm, MG_WRITER_GPA), 0);
	assert_int_equal(mg_vmm_run_to_out(vm), 0);
	assert_int_equal(fb_guest_pages_count(vm->mem.host, vm->mem.size, &ran), 0);
	/* The guest's writes landed in the copies: no page copied for them. */
	assert_true(ran.copied < after.copied + MG_TOUCH_PAGES / 2);
	assert_memory_not_equal(vm->mem.host + MG_TOUCH_GPA, plain->mem.host + MG_TOUCH_GPA,
				(size_t)MG_TOUCH_PAGES * FB_GUEST_PAGE_SIZE);
	fb_vm_destroy(plain);
	fb_vm_destroy(vm);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_prefetch_maps_without_copying),
	    T(test_record_marks_read_not_written),
	    T(test_prefetch_copies_written_pages),
	    T(test_no_fault_around),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

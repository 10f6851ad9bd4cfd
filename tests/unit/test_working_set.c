/* The working set with the ring-3 micro-guest, natively (PVM included):
 * prefetching maps the set's template pages into a fork without copying
 * any (by whichever method the kernel takes: KVM_PRE_FAULT_MEMORY, else
 * MADV_POPULATE_READ, else reads), and recording marks the pages a run read
 * but not those it wrote (guest_pages.c). */
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
	assert_int_equal(fb_guest_pages_mark_shared(vm->mem.host, vm->mem.size, read_bits), 0);
	fb_vm_destroy(vm);
	vm = fork_vm(f);
	assert_int_equal(mg_vmm_set_rip(vm, MG_WRITER_GPA), 0);
	assert_int_equal(mg_vmm_run_to_out(vm), 0);
	assert_int_equal(fb_guest_pages_mark_shared(vm->mem.host, vm->mem.size, write_bits), 0);
	struct fb_guest_page_counts c;
	assert_int_equal(fb_guest_pages_count(vm->mem.host, vm->mem.size, &c), 0);
	assert_true(c.copied >= MG_TOUCH_PAGES);
	fb_vm_destroy(vm);
	for (uint64_t p = TOUCH_PAGE; p < TOUCH_PAGE + MG_TOUCH_PAGES; p++) {
		if (!marked(read_bits, p))
			fail_msg("page %llu read but not recorded", (unsigned long long)p);
		if (marked(write_bits, p))
			fail_msg("page %llu written but recorded", (unsigned long long)p);
	}
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_prefetch_maps_without_copying),
	    T(test_record_marks_read_not_written),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

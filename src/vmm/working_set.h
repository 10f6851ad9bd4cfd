/* The working set: the guest pages a typical request touches, recorded at
 * template build (stored in the template, section "wset") and mapped into
 * each VM before it runs, so the guest finds them present instead of
 * faulting on each. Reads only: a prefetched page is the template's shared
 * page, never a copy.
 *
 * How: KVM_PRE_FAULT_MEMORY (Linux 6.10+, two-dimensional paging only)
 * maps the pages in KVM's own page tables, as a guest read would; where
 * KVM refuses it, MADV_POPULATE_READ (Linux 5.14+) maps them in the host
 * mapping, which leaves KVM a cheap fault per page; else each page is read. */
#ifndef FORKBOX_VMM_WORKING_SET_H
#define FORKBOX_VMM_WORKING_SET_H

#include <stdatomic.h>
#include <stdint.h>

#include "vmm/vm.h"

enum fb_prefetch_method {
	FB_PREFETCH_UNKNOWN = 0, /* not tried yet: try KVM first */
	FB_PREFETCH_KVM,	 /* KVM_PRE_FAULT_MEMORY */
	FB_PREFETCH_POPULATE,	 /* madvise(MADV_POPULATE_READ) */
	FB_PREFETCH_TOUCH,	 /* read one byte per page */
};

/* A bitmap of guest pages, 1 bit per 4 KiB page, LSB first. */
struct fb_working_set {
	const uint8_t *bits;
	uint64_t pages; /* bits in the map: guest memory / 4 KiB */
};

uint64_t fb_working_set_count(const struct fb_working_set *ws);

/* Maps every page of ws into vm (state restored, not running). *method
 * is shared by all VMs of one engine: it starts FB_PREFETCH_UNKNOWN and
 * settles on the first method that works. 0 or -1 + fb_error_last(). */
int fb_working_set_prefetch(struct fb_vm *vm, const struct fb_working_set *ws, _Atomic int *method);

const char *fb_prefetch_method_name(enum fb_prefetch_method m);

#endif

/* The working set: the guest pages a typical request touches, recorded at
 * template build and mapped into each VM before it runs (off the request
 * path, in the pool's threads), so the guest finds them present instead of
 * faulting on each. Two kinds:
 * - pages it only reads (section "wset"): mapped as the template's shared
 *   page, never copied;
 * - pages it writes (section "wcopy"): copied ahead, so the guest's first
 *   write finds its private copy mapped writable. Each such write would
 *   otherwise be a KVM exit plus a copy on write on the request's path:
 *   in the KVM test host these faults were most of print(1+1)'s time.
 *   The price: an idle pooled VM holds these copies.
 *
 * How: KVM_PRE_FAULT_MEMORY (Linux 6.10+, two-dimensional paging only)
 * maps the pages in KVM's own page tables, as a guest read would (writable
 * where the host page already is); where KVM refuses it,
 * MADV_POPULATE_READ (Linux 5.14+) maps them in the host mapping, which
 * leaves KVM a cheap fault per page; else each page is read. Pages to copy
 * are first written in the host mapping (MADV_POPULATE_WRITE, Linux 5.14+,
 * else a write of each page's first byte with its own value). */
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

/* Bitmaps of guest pages, 1 bit per 4 KiB page, LSB first. */
struct fb_working_set {
	const uint8_t *bits;	  /* pages read */
	const uint8_t *copy_bits; /* pages written, or NULL */
	uint64_t pages;		  /* bits in each map: guest memory / 4 KiB */
};

/* Pages read / pages written (0 without copy_bits). */
uint64_t fb_working_set_count(const struct fb_working_set *ws);
uint64_t fb_working_set_count_copy(const struct fb_working_set *ws);

/* Maps every page of ws into vm (state restored, not running). *method
 * is shared by all VMs of one engine: it starts FB_PREFETCH_UNKNOWN and
 * settles on the first method that works. 0 or -1 + fb_error_last(). */
int fb_working_set_prefetch(struct fb_vm *vm, const struct fb_working_set *ws, _Atomic int *method);

const char *fb_prefetch_method_name(enum fb_prefetch_method m);

#endif

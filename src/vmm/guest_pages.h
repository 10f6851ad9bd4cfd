/* Which pages of a VM's guest memory the host mapping holds, from
 * /proc/self/pagemap: template pages mapped as they are (shared with the
 * template and every other fork) and pages copied on write (private to this
 * VM). Host read faults map up to 16 neighbouring template pages at once
 * (fault-around), so "shared" counts pages near the ones the guest read;
 * KVM's own count of the pages it mapped for the guest is in its
 * statistics (kvm_stats.h, pages_4k). */
#ifndef FORKBOX_VMM_GUEST_PAGES_H
#define FORKBOX_VMM_GUEST_PAGES_H

#include <stdint.h>

#define FB_GUEST_PAGE_SIZE 4096u

struct fb_guest_page_counts {
	uint64_t shared; /* present, the template's own page */
	uint64_t copied; /* present, a private copy (the guest wrote it) */
};

/* Counts over [mem, mem+size) (page-aligned). 0 or -1 + fb_error_last(). */
int fb_guest_pages_count(const void *mem, uint64_t size, struct fb_guest_page_counts *counts);

/* For every page i of [mem, mem+size) that is mapped, sets bit i (1 bit
 * per page, LSB first) of shared if it is still the template's (read,
 * never written), else of copied (written: a private copy); a NULL map is
 * skipped; other bits are left as they are. 0 or -1. */
int fb_guest_pages_mark(const void *mem, uint64_t size, uint8_t *shared, uint8_t *copied);

/* Host read faults on a template mapping also map up to 16 neighbouring
 * pages (fault-around) that the guest never touched. The kernel skips
 * fault-around in a range registered with a userfaultfd in write-protect
 * mode; with no page write-protected no fault ever reaches it, so nothing
 * has to serve it, and user-mode-only faults need no privilege. With it,
 * the host mapping holds exactly the pages touched. Returns the
 * userfaultfd (the registration lasts until it is closed), or -1 +
 * fb_error_last() where the kernel lacks it (before Linux 5.19 for a
 * memfd) or forbids it (vm.unprivileged_userfaultfd, seccomp). */
int fb_guest_pages_no_fault_around(void *mem, uint64_t size);

/* Opens /proc/self/pagemap for this process now (counting opens it on
 * first use otherwise): for a process about to forbid itself open(), such
 * as a forkbox-fcgi worker before its seccomp filter. Once per process;
 * later calls are free. 0 or -1 + fb_error_last(). */
int fb_guest_pages_open(void);

#endif

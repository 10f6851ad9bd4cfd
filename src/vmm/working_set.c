/* Prefetching a working set into a VM: runs of pages, by the best method
 * the kernel offers. */
#include "vmm/working_set.h"

#include "util/error.h"
#include "vmm/guest_pages.h"
#include "vmm/kvm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static bool bit(const uint8_t *bits, uint64_t i)
{
	return bits[i / 8] & (1u << (i % 8));
}

static uint64_t count(const uint8_t *bits, uint64_t pages)
{
	uint64_t n = 0;
	for (uint64_t i = 0; bits && i < pages; i++)
		n += bit(bits, i);
	return n;
}

uint64_t fb_working_set_count(const struct fb_working_set *ws)
{
	return count(ws->bits, ws->pages);
}

uint64_t fb_working_set_count_copy(const struct fb_working_set *ws)
{
	return count(ws->copy_bits, ws->pages);
}

/* 0 done; 1 KVM cannot do it here (try another method); -1 error. */
static int prefault_kvm(struct fb_vm *vm, uint64_t gpa, uint64_t size)
{
	struct kvm_pre_fault_memory r = {.gpa = gpa, .size = size};
	while (r.size) {
		if (ioctl(vm->vcpu_fd, KVM_PRE_FAULT_MEMORY, &r) == 0)
			continue;
		if (errno == EINTR || errno == EAGAIN)
			continue;
		if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL)
			return 1;
		return fb_error_errno("KVM_PRE_FAULT_MEMORY at 0x%llx", (unsigned long long)r.gpa);
	}
	return 0;
}

/* 0 done; 1 the kernel lacks MADV_POPULATE_READ; -1 error. */
static int populate(struct fb_vm *vm, uint64_t gpa, uint64_t size)
{
	if (madvise(vm->mem.host + gpa, size, MADV_POPULATE_READ) == 0)
		return 0;
	if (errno == EINVAL)
		return 1;
	return fb_error_errno("madvise(MADV_POPULATE_READ) at 0x%llx", (unsigned long long)gpa);
}

static void touch(struct fb_vm *vm, uint64_t gpa, uint64_t size)
{
	for (uint64_t off = 0; off < size; off += FB_GUEST_PAGE_SIZE)
		(void)*(volatile uint8_t *)(vm->mem.host + gpa + off);
}

/* Makes the host mapping of [gpa, gpa+size) private copies (the VM has
 * not run: nothing else writes its memory now). */
static int copy_ahead(struct fb_vm *vm, uint64_t gpa, uint64_t size)
{
	if (madvise(vm->mem.host + gpa, size, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return fb_error_errno("madvise(MADV_POPULATE_WRITE) at 0x%llx",
				      (unsigned long long)gpa);
	for (uint64_t off = 0; off < size; off += FB_GUEST_PAGE_SIZE) {
		volatile uint8_t *p = vm->mem.host + gpa + off;
		*p = *p;
	}
	return 0;
}

static int prefetch_range(struct fb_vm *vm, uint64_t gpa, uint64_t size, _Atomic int *method)
{
	int m = atomic_load(method);
	int r;
	switch (m) {
	case FB_PREFETCH_UNKNOWN:
	case FB_PREFETCH_KVM:
		r = prefault_kvm(vm, gpa, size);
		if (r <= 0) {
			if (r == 0 && m == FB_PREFETCH_UNKNOWN)
				atomic_store(method, FB_PREFETCH_KVM);
			return r;
		}
		atomic_store(method, FB_PREFETCH_POPULATE);
		/* fall through */
	case FB_PREFETCH_POPULATE:
		r = populate(vm, gpa, size);
		if (r <= 0)
			return r;
		atomic_store(method, FB_PREFETCH_TOUCH);
		/* fall through */
	default:
		touch(vm, gpa, size);
		return 0;
	}
}

/* Each run of set bits in bits: copied ahead first if copy, then mapped. */
static int prefetch_map(struct fb_vm *vm, const uint8_t *bits, uint64_t pages, bool copy,
			_Atomic int *method)
{
	for (uint64_t i = 0; i < pages;) {
		if (!bit(bits, i)) {
			i++;
			continue;
		}
		uint64_t start = i;
		while (i < pages && bit(bits, i))
			i++;
		uint64_t gpa = start * FB_GUEST_PAGE_SIZE, size = (i - start) * FB_GUEST_PAGE_SIZE;
		if ((copy && copy_ahead(vm, gpa, size) < 0) ||
		    prefetch_range(vm, gpa, size, method) < 0)
			return -1;
	}
	return 0;
}

int fb_working_set_prefetch(struct fb_vm *vm, const struct fb_working_set *ws, _Atomic int *method)
{
	uint64_t pages = ws->pages < vm->mem.size / FB_GUEST_PAGE_SIZE
			     ? ws->pages
			     : vm->mem.size / FB_GUEST_PAGE_SIZE;
	if (prefetch_map(vm, ws->bits, pages, false, method) < 0 ||
	    (ws->copy_bits && prefetch_map(vm, ws->copy_bits, pages, true, method) < 0))
		return fb_error_prefix("prefetch the working set");
	return 0;
}

const char *fb_prefetch_method_name(enum fb_prefetch_method m)
{
	switch (m) {
	case FB_PREFETCH_KVM:
		return "KVM_PRE_FAULT_MEMORY";
	case FB_PREFETCH_POPULATE:
		return "MADV_POPULATE_READ";
	case FB_PREFETCH_TOUCH:
		return "read each page";
	default:
		return "none yet";
	}
}

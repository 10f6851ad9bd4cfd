/* Capture and restore of one vCPU's state through the KVM vCPU ioctls. */
#include "vmm/snapshot/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/error.h"

/* The MSRs a running Linux guest depends on that are not in sregs (EFER,
 * APIC base) or the XSAVE area. Restored in this order: TSC first, so the
 * TSC deadline that follows is relative to the restored TSC. */
#define MSR_TSC		 0x00000010
#define MSR_TSC_DEADLINE 0x000006e0

static const uint32_t wanted_msrs[] = {
    0x00000010, /* IA32_TSC */
    0x0000003b, /* IA32_TSC_ADJUST */
    0x00000174, /* SYSENTER_CS */
    0x00000175, /* SYSENTER_ESP */
    0x00000176, /* SYSENTER_EIP */
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
    0xc0000083, /* CSTAR */
    0xc0000084, /* SFMASK */
    0xc0000102, /* KERNEL_GS_BASE */
    0xc0000103, /* TSC_AUX */
    0x00000277, /* PAT */
    0x000001a0, /* MISC_ENABLE */
    0x00000048, /* SPEC_CTRL */
    0x00000da0, /* XSS */
    0x00000011, /* KVM wall clock (old) */
    0x00000012, /* KVM system time (old) */
    0x4b564d00, /* KVM wall clock */
    0x4b564d01, /* KVM system time */
    0x4b564d02, /* KVM async PF enable */
    0x4b564d03, /* KVM steal time */
    0x4b564d04, /* KVM PV EOI */
    0x4b564d05, /* KVM poll control */
    0x4b564d06, /* KVM async PF interrupt */
    0x000006e0, /* TSC_DEADLINE */
};

static int kvm_knows(const struct kvm_msr_list *list, uint32_t index)
{
	for (uint32_t i = 0; i < list->nmsrs; i++)
		if (list->indices[i] == index)
			return 1;
	return 0;
}

static struct kvm_msr_list *msr_index_list(int kvm_fd)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0 || errno != E2BIG) {
		fb_error_errno("KVM_GET_MSR_INDEX_LIST");
		return NULL;
	}
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list) {
		fb_error("out of memory");
		return NULL;
	}
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		fb_error_errno("KVM_GET_MSR_INDEX_LIST");
		free(list);
		return NULL;
	}
	return list;
}

static int probe_xsave(int kvm_fd, struct fb_vcpu_caps *caps)
{
	int size = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (size < 0)
		return fb_error_errno("KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2)");
	caps->use_xsave2 = (size_t)size > sizeof(struct kvm_xsave);
	caps->xsave_size = caps->use_xsave2 ? (uint32_t)size : sizeof(struct kvm_xsave);
	if (caps->xsave_size > FB_XSAVE_MAX_SIZE)
		return fb_error("XSAVE state of %u bytes is larger than forkbox supports (%u)",
				caps->xsave_size, FB_XSAVE_MAX_SIZE);
	return 0;
}

int fb_vcpu_caps_probe(int kvm_fd, struct fb_vcpu_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	if (probe_xsave(kvm_fd, caps) < 0)
		return -1;
	struct kvm_msr_list *list = msr_index_list(kvm_fd);
	if (!list)
		return -1;
	for (size_t i = 0; i < sizeof(wanted_msrs) / sizeof(wanted_msrs[0]); i++)
		if (kvm_knows(list, wanted_msrs[i]))
			caps->msr_indices[caps->nr_msrs++] = wanted_msrs[i];
	free(list);
	return 0;
}

int fb_vcpu_complete_pending_io(int vcpu_fd, struct kvm_run *run)
{
	run->immediate_exit = 1;
	int r = ioctl(vcpu_fd, KVM_RUN, 0);
	int err = errno;
	run->immediate_exit = 0;
	if (r == 0)
		return fb_error("KVM_RUN with immediate_exit ran the guest (exit reason %u)",
				run->exit_reason);
	if (err != EINTR) {
		errno = err;
		return fb_error_errno("KVM_RUN (immediate_exit)");
	}
	return 0;
}

/* KVM_GET_MSRS stops at the first MSR it cannot read and returns how many
 * it read: keep those, skip the refused one, go on with the rest. */
static int save_msrs(int vcpu_fd, const struct fb_vcpu_caps *caps, struct fb_vcpu_state *st)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} one;
	st->nr_msrs = 0;
	for (uint32_t i = 0; i < caps->nr_msrs && i < FB_VCPU_MAX_MSRS; i++) {
		memset(&one, 0, sizeof(one));
		one.hdr.nmsrs = 1;
		one.e[0].index = caps->msr_indices[i];
		int r = ioctl(vcpu_fd, KVM_GET_MSRS, &one);
		if (r < 0)
			return fb_error_errno("KVM_GET_MSRS");
		if (r == 1)
			st->msrs[st->nr_msrs++] = one.e[0];
	}
	return 0;
}

static int named_ioctl(int fd, unsigned long req, void *arg, const char *name)
{
	if (ioctl(fd, req, arg) < 0)
		return fb_error_errno("%s", name);
	return 0;
}

/* The ioctl, with its own name in the error message. */
#define IOCTL(fd, req, arg) named_ioctl(fd, req, arg, #req)

int fb_vcpu_state_save(int vcpu_fd, const struct fb_vcpu_caps *caps, int has_lapic,
		       struct fb_vcpu_state *st)
{
	memset(st, 0, sizeof(*st));
	st->xsave_size = caps->xsave_size;
	if (IOCTL(vcpu_fd, KVM_GET_REGS, &st->regs) < 0 ||
	    IOCTL(vcpu_fd, KVM_GET_SREGS, &st->sregs) < 0 ||
	    IOCTL(vcpu_fd, KVM_GET_XCRS, &st->xcrs) < 0)
		return -1;
	if (caps->use_xsave2 ? IOCTL(vcpu_fd, KVM_GET_XSAVE2, st->xsave) < 0
			     : IOCTL(vcpu_fd, KVM_GET_XSAVE, st->xsave) < 0)
		return -1;
	if (save_msrs(vcpu_fd, caps, st) < 0)
		return -1;
	if (has_lapic) {
		st->flags |= FB_VCPU_HAS_LAPIC;
		if (IOCTL(vcpu_fd, KVM_GET_LAPIC, &st->lapic) < 0)
			return -1;
	}
	if (IOCTL(vcpu_fd, KVM_GET_VCPU_EVENTS, &st->events) < 0 ||
	    IOCTL(vcpu_fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0 ||
	    IOCTL(vcpu_fd, KVM_GET_MP_STATE, &st->mp_state) < 0)
		return -1;
	return 0;
}

/* Sets n entries (in order); 0 or -1 naming a refused MSR. */
static int set_msrs(int vcpu_fd, const struct kvm_msr_entry *entries, uint32_t n)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[FB_VCPU_MAX_MSRS];
	} msrs;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = n;
	memcpy(msrs.e, entries, n * sizeof(msrs.e[0]));
	int r = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
	if (r < 0)
		return fb_error_errno("KVM_SET_MSRS");
	if ((uint32_t)r < n)
		return fb_error("KVM_SET_MSRS: MSR 0x%x refused", msrs.e[r].index);
	return 0;
}

static int restore_msrs(int vcpu_fd, const struct fb_vcpu_state *st)
{
	return set_msrs(vcpu_fd, st->msrs, st->nr_msrs);
}

int fb_vcpu_state_restore_time(int vcpu_fd, const struct fb_vcpu_state *st)
{
	struct kvm_msr_entry time[2];
	uint32_t n = 0;
	/* TSC first: the deadline is armed relative to it. */
	for (uint32_t i = 0; i < st->nr_msrs; i++)
		if (st->msrs[i].index == MSR_TSC)
			time[n++] = st->msrs[i];
	for (uint32_t i = 0; i < st->nr_msrs; i++)
		if (st->msrs[i].index == MSR_TSC_DEADLINE)
			time[n++] = st->msrs[i];
	return set_msrs(vcpu_fd, time, n);
}

static int restore_events(int vcpu_fd, const struct fb_vcpu_state *st)
{
	struct kvm_vcpu_events ev = st->events;
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	return IOCTL(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev);
}

int fb_vcpu_state_restore(int vcpu_fd, const struct fb_vcpu_state *st)
{
	/* KVM_SET_* take non-const pointers; they only read. */
	struct fb_vcpu_state *s = (struct fb_vcpu_state *)st;
	if (IOCTL(vcpu_fd, KVM_SET_SREGS, &s->sregs) < 0 ||
	    IOCTL(vcpu_fd, KVM_SET_XCRS, &s->xcrs) < 0 ||
	    IOCTL(vcpu_fd, KVM_SET_XSAVE, s->xsave) < 0 ||
	    IOCTL(vcpu_fd, KVM_SET_REGS, &s->regs) < 0)
		return -1;
	if ((st->flags & FB_VCPU_HAS_LAPIC) && IOCTL(vcpu_fd, KVM_SET_LAPIC, &s->lapic) < 0)
		return -1;
	if (restore_msrs(vcpu_fd, st) < 0 || restore_events(vcpu_fd, st) < 0 ||
	    IOCTL(vcpu_fd, KVM_SET_DEBUGREGS, &s->debugregs) < 0 ||
	    IOCTL(vcpu_fd, KVM_SET_MP_STATE, &s->mp_state) < 0)
		return -1;
	return 0;
}

/* Saving and restoring the complete state of one KVM vCPU, and its flat,
 * versioned byte form (stored in templates).
 *
 * Usage (snapshot): stop the vCPU at an exit, call
 * fb_vcpu_complete_pending_io() so a pending IN/OUT/MMIO is finished, then
 * fb_vcpu_state_save(). Usage (fork): new VM with its irqchip/PIT and memory
 * slots already set up, KVM_CREATE_VCPU, KVM_SET_CPUID2 (the template's
 * CPUID), then fb_vcpu_state_restore(). */
#ifndef FORKBOX_VMM_SNAPSHOT_VCPU_STATE_H
#define FORKBOX_VMM_SNAPSHOT_VCPU_STATE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#define FB_VCPU_MAX_MSRS  64
#define FB_XSAVE_MAX_SIZE 16384 /* AMX needs ~11 KiB; legacy KVM_GET_XSAVE 4 KiB */

/* What this host's KVM offers; probe once per process, share read-only. */
struct fb_vcpu_caps {
	uint32_t xsave_size; /* bytes KVM_GET_XSAVE(2) writes */
	int use_xsave2;	     /* KVM_CAP_XSAVE2 reported a size above 4 KiB */
	uint32_t nr_msrs;    /* MSRs worth saving that KVM knows */
	uint32_t msr_indices[FB_VCPU_MAX_MSRS];
};

/* Which optional parts a state has (the rest is always present). */
#define FB_VCPU_HAS_LAPIC (1u << 0) /* vCPU had an in-kernel LAPIC */

struct fb_vcpu_state {
	uint32_t flags; /* FB_VCPU_HAS_* */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	uint32_t xsave_size;
	uint32_t nr_msrs;
	struct kvm_msr_entry msrs[FB_VCPU_MAX_MSRS];
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	struct kvm_mp_state mp_state;
	/* struct kvm_xsave, xsave_size bytes of it used (KVM copies it; no
	 * alignment needed, so the struct can live anywhere) */
	uint8_t xsave[FB_XSAVE_MAX_SIZE];
};

/* Probe on /dev/kvm (or a VM fd): XSAVE size, MSR index list filtered to
 * the MSRs that matter. Returns 0 or -1 with fb_error_last() set. */
int fb_vcpu_caps_probe(int kvm_fd, struct fb_vcpu_caps *caps);

/* After a KVM_EXIT_IO/MMIO, finish the pending access without running guest
 * code (KVM_RUN with immediate_exit), so RIP points past the instruction
 * and a saved state resumes correctly. run is the vCPU's kvm_run mapping. */
int fb_vcpu_complete_pending_io(int vcpu_fd, struct kvm_run *run);

/* Save everything; has_lapic: the VM has an in-kernel irqchip. MSRs the
 * host refuses to read are left out (each one listed in caps is tried). */
int fb_vcpu_state_save(int vcpu_fd, const struct fb_vcpu_caps *caps, int has_lapic,
		       struct fb_vcpu_state *st);

/* Restore in the order KVM needs: sregs, XCRS, XSAVE, regs, LAPIC, MSRs,
 * vCPU events, debug regs, MP state. Errors name the ioctl, and the MSR
 * index for a refused MSR. */
int fb_vcpu_state_restore(int vcpu_fd, const struct fb_vcpu_state *st);

/* Only the time MSRs again (TSC, then the TSC deadline), for a VM restored
 * a while before it runs: the guest then resumes at the snapshot's TSC. */
int fb_vcpu_state_restore_time(int vcpu_fd, const struct fb_vcpu_state *st);

/* Flat form: "FBVC" magic, version, then tagged records {u32 tag, u32 len,
 * bytes, padded to 8}. serialize returns malloc'ed bytes (size in *len) or
 * NULL; parse is strict (exact lengths, no unknown/duplicate/missing
 * records) and returns 0 or -1 with fb_error_last() set. */
void *fb_vcpu_state_serialize(const struct fb_vcpu_state *st, size_t *len);
int fb_vcpu_state_parse(const void *data, size_t len, struct fb_vcpu_state *st);

#endif

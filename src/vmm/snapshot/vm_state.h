/* VM-wide device state kept by KVM itself: the two PICs, the IOAPIC, the
 * PIT and the KVM clock; and its flat, versioned byte form. */
#ifndef FORKBOX_VMM_SNAPSHOT_VM_STATE_H
#define FORKBOX_VMM_SNAPSHOT_VM_STATE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#define FB_VM_HAS_IRQCHIP (1u << 0) /* KVM_CREATE_IRQCHIP was done */
#define FB_VM_HAS_PIT	  (1u << 1) /* KVM_CREATE_PIT2 was done */

struct fb_vm_state {
	uint32_t flags; /* FB_VM_HAS_* */
	struct kvm_irqchip pic_master;
	struct kvm_irqchip pic_slave;
	struct kvm_irqchip ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* flags says which devices the VM has (FB_VM_HAS_*). */
int fb_vm_state_save(int vm_fd, uint32_t flags, struct fb_vm_state *st);

/* The new VM must have the same devices (flags). The IOAPIC is restored by
 * reading KVM's own state and overwriting id and redirection table; the
 * clock is set to the saved value (the guest's clock resumes where the
 * snapshot stopped; forkbox's agent sets wall time itself). */
int fb_vm_state_restore(int vm_fd, const struct fb_vm_state *st);

/* Only the KVM clock again (for a VM restored a while before it runs). */
int fb_vm_state_restore_clock(int vm_fd, const struct fb_vm_state *st);

/* Flat form like fb_vcpu_state_serialize() ("FBVM" magic). */
void *fb_vm_state_serialize(const struct fb_vm_state *st, size_t *len);
int fb_vm_state_parse(const void *data, size_t len, struct fb_vm_state *st);

#endif

/* Capture and restore of the VM-wide state KVM emulates in the kernel. */
#include "vmm/snapshot/vm_state.h"

#include <string.h>
#include <sys/ioctl.h>

#include "util/error.h"

static int named_ioctl(int fd, unsigned long req, void *arg, const char *name)
{
	if (ioctl(fd, req, arg) < 0)
		return fb_error_errno("%s", name);
	return 0;
}

/* The ioctl, with its own name in the error message. */
#define IOCTL(fd, req, arg) named_ioctl(fd, req, arg, #req)

static int get_chip(int vm_fd, uint32_t id, struct kvm_irqchip *chip)
{
	memset(chip, 0, sizeof(*chip));
	chip->chip_id = id;
	return IOCTL(vm_fd, KVM_GET_IRQCHIP, chip);
}

int fb_vm_state_save(int vm_fd, uint32_t flags, struct fb_vm_state *st)
{
	memset(st, 0, sizeof(*st));
	st->flags = flags & (FB_VM_HAS_IRQCHIP | FB_VM_HAS_PIT);
	if (st->flags & FB_VM_HAS_IRQCHIP) {
		if (get_chip(vm_fd, KVM_IRQCHIP_PIC_MASTER, &st->pic_master) < 0 ||
		    get_chip(vm_fd, KVM_IRQCHIP_PIC_SLAVE, &st->pic_slave) < 0 ||
		    get_chip(vm_fd, KVM_IRQCHIP_IOAPIC, &st->ioapic) < 0)
			return -1;
	}
	if ((st->flags & FB_VM_HAS_PIT) && IOCTL(vm_fd, KVM_GET_PIT2, &st->pit) < 0)
		return -1;
	return IOCTL(vm_fd, KVM_GET_CLOCK, &st->clock);
}

/* Only the guest-programmed parts of the IOAPIC are taken from the
 * snapshot; the rest stays as KVM set it up for this VM (a zero-filled
 * state would break interrupt routing). */
static int restore_ioapic(int vm_fd, const struct kvm_irqchip *saved)
{
	struct kvm_irqchip chip;
	if (get_chip(vm_fd, KVM_IRQCHIP_IOAPIC, &chip) < 0)
		return -1;
	chip.chip.ioapic.id = saved->chip.ioapic.id;
	memcpy(chip.chip.ioapic.redirtbl, saved->chip.ioapic.redirtbl,
	       sizeof(chip.chip.ioapic.redirtbl));
	return IOCTL(vm_fd, KVM_SET_IRQCHIP, &chip);
}

static int restore_irqchip(int vm_fd, const struct fb_vm_state *st)
{
	struct kvm_irqchip chip = st->pic_master;
	chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
	if (IOCTL(vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return -1;
	chip = st->pic_slave;
	chip.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	if (IOCTL(vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
		return -1;
	return restore_ioapic(vm_fd, &st->ioapic);
}

int fb_vm_state_restore(int vm_fd, const struct fb_vm_state *st)
{
	if ((st->flags & FB_VM_HAS_IRQCHIP) && restore_irqchip(vm_fd, st) < 0)
		return -1;
	struct kvm_pit_state2 pit = st->pit;
	if ((st->flags & FB_VM_HAS_PIT) && IOCTL(vm_fd, KVM_SET_PIT2, &pit) < 0)
		return -1;
	return fb_vm_state_restore_clock(vm_fd, st);
}

int fb_vm_state_restore_clock(int vm_fd, const struct fb_vm_state *st)
{
	/* Flags 0: set exactly the saved clock, no realtime catch-up. */
	struct kvm_clock_data clock = {.clock = st->clock.clock};
	return IOCTL(vm_fd, KVM_SET_CLOCK, &clock);
}

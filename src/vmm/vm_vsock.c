#include "vmm/vm_vsock.h"

#include "vmm/virtio/vsock.h"

#include <stdio.h>

static int vsock_read(void *opaque, uint64_t offset, void *data, unsigned len)
{
	fb_vsock_mmio_read(opaque, offset, data, len);
	return 0;
}

static int vsock_write(void *opaque, uint64_t offset, const void *data, unsigned len)
{
	fb_vsock_mmio_write(opaque, offset, data, len);
	return 0;
}

/* Edge for the IOAPIC: the line goes up and straight down again. */
static void vsock_irq(void *opaque)
{
	struct fb_vm *vm = opaque;
	if (fb_vm_irq_pulse(vm, FB_VM_VSOCK_GSI) < 0 && vm->debug)
		fprintf(stderr, "vmm: vsock interrupt: %s\n", fb_error_last());
}

int fb_vm_attach_vsock(struct fb_vm *vm)
{
	if (vm->vsock)
		return fb_error("vsock device already attached");
	struct fb_vsock *dev = fb_vsock_create(&vm->mem, FB_VM_GUEST_CID, vsock_irq, vm);
	if (!dev)
		return fb_error_prefix("create vsock device");
	struct fb_vm_mmio region = {.base = FB_VM_VSOCK_BASE,
				    .size = FB_VSOCK_MMIO_SIZE,
				    .read = vsock_read,
				    .write = vsock_write,
				    .opaque = dev};
	if (fb_vm_add_mmio(vm, &region) < 0) {
		fb_vsock_destroy(dev);
		return -1;
	}
	vm->vsock = dev;
	return 0;
}

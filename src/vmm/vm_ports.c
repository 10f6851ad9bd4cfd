#include "vmm/vm_ports.h"

#include <stdio.h>
#include <string.h>

#define PORT_POST	0x80
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD	0x64
#define I8042_CMD_RESET 0xfe
#define PORT_CMOS_INDEX 0x70
#define PORT_CMOS_DATA	0x71
#define PORT_PCI_FIRST	0xcf8
#define PORT_PCI_LAST	0xcff

static bool in_range(uint16_t port, uint16_t first, uint16_t count)
{
	return port >= first && port - first < count;
}

/* Byte-wide device registers: a wider access touches only the first byte. */
static enum fb_vm_io_result serial_access(struct fb_vm *vm, unsigned offset, bool write,
					  uint8_t *data, unsigned size)
{
	int r;
	if (write) {
		r = fb_serial_write(&vm->serial, offset, data[0]);
	} else {
		memset(data, 0xff, size);
		r = fb_serial_read(&vm->serial, offset, &data[0]);
	}
	return r < 0 ? FB_IO_ERROR : FB_IO_OK;
}

/* Ports Linux touches while booting without ACPI or PCI; every read is
 * answered so the guest never waits on a device that is not there. */
static enum fb_vm_io_result legacy_access(struct fb_vm *vm, uint16_t port, bool write,
					  uint8_t *data, unsigned size)
{
	if (write) {
		if (port == PORT_I8042_CMD && data[0] == I8042_CMD_RESET)
			return FB_IO_RESET;
		if (vm->debug && port != PORT_POST && port != PORT_CMOS_INDEX &&
		    port != PORT_CMOS_DATA && !in_range(port, PORT_PCI_FIRST, 8))
			fprintf(stderr, "vmm: ignored write to port 0x%x (%u bytes)\n", port, size);
		return FB_IO_OK;
	}
	switch (port) {
	case PORT_I8042_DATA:
	case PORT_I8042_CMD: /* no data, input buffer empty */
	case PORT_CMOS_INDEX:
	case PORT_CMOS_DATA:
		memset(data, 0, size);
		return FB_IO_OK;
	default:
		break;
	}
	memset(data, 0xff, size); /* nothing there: PCI config space included */
	if (vm->debug && !in_range(port, PORT_PCI_FIRST, PORT_PCI_LAST - PORT_PCI_FIRST + 1))
		fprintf(stderr, "vmm: read of unknown port 0x%x (%u bytes)\n", port, size);
	return FB_IO_OK;
}

enum fb_vm_io_result fb_vm_handle_io(struct fb_vm *vm)
{
	struct kvm_run *run = vm->run;
	unsigned size = run->io.size;
	uint64_t total = (uint64_t)size * run->io.count;
	if ((size != 1 && size != 2 && size != 4) || run->io.data_offset > vm->run_size ||
	    total > vm->run_size - run->io.data_offset) {
		snprintf(vm->error, sizeof(vm->error),
			 "KVM_EXIT_IO: bad access (port 0x%x, size %u, count %u)", run->io.port,
			 size, run->io.count);
		return FB_IO_ERROR;
	}
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint16_t port = run->io.port;
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		enum fb_vm_io_result r;
		if (in_range(port, FB_SERIAL_PORT_BASE, FB_SERIAL_PORT_COUNT))
			r = serial_access(vm, port - FB_SERIAL_PORT_BASE, write, data, size);
		else
			r = legacy_access(vm, port, write, data, size);
		if (r == FB_IO_ERROR)
			snprintf(vm->error, sizeof(vm->error), "port 0x%x: %s", port,
				 fb_error_last());
		if (r != FB_IO_OK)
			return r;
	}
	return FB_IO_OK;
}

enum fb_vm_io_result fb_vm_handle_mmio(struct fb_vm *vm)
{
	struct kvm_run *run = vm->run;
	uint64_t addr = run->mmio.phys_addr;
	unsigned len = run->mmio.len;
	if (len == 0 || len > sizeof(run->mmio.data)) {
		snprintf(vm->error, sizeof(vm->error), "KVM_EXIT_MMIO: bad length %u at 0x%llx",
			 len, (unsigned long long)addr);
		return FB_IO_ERROR;
	}
	for (unsigned i = 0; i < vm->nmmio; i++) {
		const struct fb_vm_mmio *m = &vm->mmio[i];
		if (addr < m->base || addr - m->base >= m->size || m->size - (addr - m->base) < len)
			continue;
		int r = run->mmio.is_write
			    ? m->write(m->opaque, addr - m->base, run->mmio.data, len)
			    : m->read(m->opaque, addr - m->base, run->mmio.data, len);
		if (r < 0) {
			snprintf(vm->error, sizeof(vm->error), "MMIO 0x%llx: %s",
				 (unsigned long long)addr, fb_error_last());
			return FB_IO_ERROR;
		}
		return FB_IO_OK;
	}
	if (!run->mmio.is_write)
		memset(run->mmio.data, 0, len);
	if (vm->debug)
		fprintf(stderr, "vmm: MMIO %s of unmapped 0x%llx (%u bytes)\n",
			run->mmio.is_write ? "write" : "read", (unsigned long long)addr, len);
	return FB_IO_OK;
}

/* VM construction and teardown. */
#include "vmm/vm.h"

#include "vmm/snapshot/cpuid.h"
#include "vmm/virtio/vsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define APIC_LVT0	 0x350
#define APIC_LVT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

static int serial_irq(void *opaque, int level)
{
	struct fb_vm *vm = opaque;
	return fb_vm_irq_line(vm, FB_SERIAL_IRQ, level);
}

/* Watches the console for a kernel panic (the reset that follows it is then
 * reported as a panic), and passes lines to the caller's tap. */
static void console_line(void *opaque, const char *line, size_t len)
{
	struct fb_vm *vm = opaque;
	if (strstr(line, "Kernel panic - not syncing"))
		vm->panic_seen = true;
	if (vm->user_line_fn)
		vm->user_line_fn(vm->user_line_opaque, line, len);
}

static int setup_memory(struct fb_vm *vm, const struct fb_vm_options *opts)
{
	if (opts->mem_size == 0 || opts->mem_size % 4096 != 0)
		return fb_error("guest memory size %llu is not a positive multiple of 4 KiB",
				(unsigned long long)opts->mem_size);
	vm->mem.size = opts->mem_size;
	if (opts->mem) {
		vm->mem.host = opts->mem;
		vm->mem_owned = opts->mem_owned;
	} else {
		vm->mem_fd = memfd_create("forkbox-guest-ram", MFD_CLOEXEC);
		if (vm->mem_fd < 0)
			return fb_error_errno("memfd_create");
		if (ftruncate(vm->mem_fd, (off_t)opts->mem_size) < 0)
			return fb_error_errno("ftruncate guest RAM memfd");
		void *p = mmap(NULL, opts->mem_size, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_NORESERVE, vm->mem_fd, 0);
		if (p == MAP_FAILED)
			return fb_error_errno("mmap guest RAM");
		vm->mem.host = p;
		vm->mem_owned = true;
	}
	struct kvm_userspace_memory_region slot = {.slot = 0,
						   .guest_phys_addr = 0,
						   .memory_size = vm->mem.size,
						   .userspace_addr = (uintptr_t)vm->mem.host};
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return fb_error_errno("KVM_SET_USER_MEMORY_REGION");
	return 0;
}

static int setup_vm_devices(struct fb_vm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)FB_VM_TSS_ADDR) < 0)
		return fb_error_errno("KVM_SET_TSS_ADDR");
	uint64_t identity = FB_VM_IDENTITY_MAP_ADDR;
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0)
		return fb_error_errno("KVM_SET_IDENTITY_MAP_ADDR");
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return fb_error_errno("KVM_CREATE_IRQCHIP");
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
		return fb_error_errno("KVM_CREATE_PIT2");
	return 0;
}

static int set_lvt_mode(struct kvm_lapic_state *lapic, unsigned reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &lapic->regs[reg], sizeof(v));
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&lapic->regs[reg], &v, sizeof(v));
	return 0;
}

/* LINT0 delivers the PIC's ExtINT, LINT1 NMIs, as the MP table says. */
static int setup_lapic(int vcpu_fd)
{
	struct kvm_lapic_state lapic;
	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return fb_error_errno("KVM_GET_LAPIC");
	set_lvt_mode(&lapic, APIC_LVT0, APIC_MODE_EXTINT);
	set_lvt_mode(&lapic, APIC_LVT1, APIC_MODE_NMI);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return fb_error_errno("KVM_SET_LAPIC");
	return 0;
}

static int setup_vcpu(struct fb_vm *vm, const struct fb_vm_options *opts)
{
	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0UL);
	if (vm->vcpu_fd < 0)
		return fb_error_errno("KVM_CREATE_VCPU");
	vm->run_size = vm->kvm->run_mmap_size;
	void *run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu_fd, 0);
	if (run == MAP_FAILED)
		return fb_error_errno("mmap kvm_run");
	vm->run = run;
	if (opts->cpuid) {
		vm->cpuid = fb_cpuid_dup(opts->cpuid);
		if (!vm->cpuid)
			return fb_error("copy CPUID: out of memory");
	} else if (fb_cpuid_build(vm->kvm->fd, &vm->cpuid) < 0) {
		return fb_error_prefix("build CPUID");
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, vm->cpuid) < 0)
		return fb_error_errno("KVM_SET_CPUID2");
	return setup_lapic(vm->vcpu_fd);
}

static struct fb_vm *vm_alloc(const struct fb_kvm *kvm, const struct fb_vm_options *opts)
{
	struct fb_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->kvm = kvm;
	vm->vm_fd = vm->vcpu_fd = vm->mem_fd = -1;
	vm->user_line_fn = opts->line_fn;
	vm->user_line_opaque = opts->line_opaque;
	const char *debug = getenv("FORKBOX_VMM_DEBUG");
	vm->debug = debug && *debug && strcmp(debug, "0") != 0;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	atomic_init(&vm->stop_requested, false);
	fb_serial_init(&vm->serial, opts->serial_fd, serial_irq, vm);
	fb_serial_set_line_tap(&vm->serial, console_line, vm);
	return vm;
}

struct fb_vm *fb_vm_create(const struct fb_kvm *kvm, const struct fb_vm_options *opts)
{
	struct fb_vm *vm = vm_alloc(kvm, opts);
	if (!vm) {
		fb_error("create VM: out of memory");
		return NULL;
	}
	vm->vm_fd = ioctl(kvm->fd, KVM_CREATE_VM, 0UL);
	if (vm->vm_fd < 0) {
		fb_error_errno("KVM_CREATE_VM");
		goto fail;
	}
	if (setup_vm_devices(vm) < 0 || setup_memory(vm, opts) < 0 || setup_vcpu(vm, opts) < 0)
		goto fail;
	return vm;
fail:
	fb_error_prefix("create VM");
	/* Memory given by the caller stays the caller's on failure. */
	if (opts->mem)
		vm->mem_owned = false;
	fb_vm_destroy(vm);
	return NULL;
}

void fb_vm_destroy(struct fb_vm *vm)
{
	if (!vm)
		return;
	if (vm->thread_live) {
		fb_vm_request_stop(vm);
		pthread_join(vm->thread, NULL);
	}
	/* The device's I/O thread uses guest memory and the VM fd: it goes first. */
	if (vm->vsock)
		fb_vsock_destroy(vm->vsock);
	/* Guest memory goes before the VM fd: unmapping it makes KVM drop its
	 * mappings through the MMU notifier, which yields the CPU as it goes,
	 * while tearing them down in the last close does not (a soft lockup of
	 * the whole CPU in nested KVM under TCG). */
	if (vm->mem_owned && vm->mem.host)
		munmap(vm->mem.host, vm->mem.size);
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	free(vm->cpuid);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int fb_vm_load_kernel(struct fb_vm *vm, const struct fb_boot_image *img)
{
	struct fb_boot_entry entry;
	if (fb_boot_load(vm->mem.host, vm->mem.size, img, &entry) < 0 ||
	    fb_boot_setup_vcpu(vm->vcpu_fd, &entry) < 0)
		return fb_error_prefix("boot");
	return 0;
}

int fb_vm_add_mmio(struct fb_vm *vm, const struct fb_vm_mmio *region)
{
	if (vm->nmmio >= FB_VM_MAX_MMIO)
		return fb_error("too many MMIO regions (%d)", FB_VM_MAX_MMIO);
	if (region->size == 0 || region->base + region->size < region->base ||
	    region->base < vm->mem.size)
		return fb_error("MMIO region 0x%llx+0x%llx overlaps RAM or wraps",
				(unsigned long long)region->base, (unsigned long long)region->size);
	vm->mmio[vm->nmmio++] = *region;
	return 0;
}

int fb_vm_irq_line(struct fb_vm *vm, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		return fb_error_errno("KVM_IRQ_LINE(gsi %u, %d)", gsi, level);
	return 0;
}

int fb_vm_irq_pulse(struct fb_vm *vm, uint32_t gsi)
{
	if (fb_vm_irq_line(vm, gsi, 1) < 0)
		return -1;
	return fb_vm_irq_line(vm, gsi, 0);
}

const char *fb_vm_status_name(enum fb_vm_status status)
{
	switch (status) {
	case FB_VM_NOT_RUN:
		return "not run";
	case FB_VM_STOPPED:
		return "stopped";
	case FB_VM_POWEROFF:
		return "powered off";
	case FB_VM_RESET:
		return "reset";
	case FB_VM_PANIC:
		return "kernel panic";
	case FB_VM_ERROR:
		return "error";
	}
	return "unknown";
}

const char *fb_vm_error(const struct fb_vm *vm)
{
	return vm->error;
}

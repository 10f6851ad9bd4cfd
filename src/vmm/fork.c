#include "vmm/fork.h"

#include "util/error.h"
#include "vmm/virtio/vsock.h"
#include "vmm/vm_vsock.h"

#include <sys/mman.h>

static int restore_devices(struct fb_vm *vm, const struct fb_template *t)
{
	const void *blob;
	size_t size;
	if (fb_template_device(t, "serial", &blob, &size) < 0 ||
	    fb_serial_restore(&vm->serial, blob, size) < 0)
		return fb_error_prefix("restore serial");
	if (fb_vm_attach_vsock(vm) < 0)
		return -1;
	if (fb_template_device(t, "vsock", &blob, &size) < 0 ||
	    fb_vsock_restore(vm->vsock, blob, size) < 0)
		return fb_error_prefix("restore vsock");
	return 0;
}

/* VM-wide devices (PIC, IOAPIC, PIT, clock) first, then the vCPU. */
static int restore_state(struct fb_vm *vm, const struct fb_template *t)
{
	if (fb_template_nr_vcpus(t) != 1)
		return fb_error("template has %u vCPUs; this forkbox runs 1",
				fb_template_nr_vcpus(t));
	if (fb_vm_state_restore(vm->vm_fd, fb_template_vm(t)) < 0)
		return fb_error_prefix("restore VM devices");
	if (fb_vcpu_state_restore(vm->vcpu_fd, fb_template_vcpu(t, 0)) < 0)
		return fb_error_prefix("restore vCPU 0");
	return restore_devices(vm, t);
}

struct fb_vm *fb_fork_create(const struct fb_kvm *kvm, const struct fb_template *t,
			     const struct fb_fork_options *opts)
{
	void *mem;
	int mapped =
	    opts->ram ? fb_template_ram_map(opts->ram, &mem) : fb_template_map_memory(t, &mem);
	if (mapped < 0) {
		fb_error_prefix("fork");
		return NULL;
	}
	struct fb_vm_options vo = {.mem_size = fb_template_mem_size(t),
				   .mem = mem,
				   .mem_owned = true,
				   .cpuid = fb_template_cpuid(t),
				   .serial_fd = opts->serial_fd,
				   .line_fn = opts->line_fn,
				   .line_opaque = opts->line_opaque};
	struct fb_vm *vm = fb_vm_create(kvm, &vo);
	if (!vm) {
		munmap(mem, fb_template_mem_size(t));
		fb_error_prefix("fork");
		return NULL;
	}
	if (restore_state(vm, t) < 0) {
		fb_error_prefix("fork");
		fb_vm_destroy(vm);
		return NULL;
	}
	/* Untrusted code runs in a fork: its console must not fill the host log. */
	fb_serial_limit_sink(&vm->serial, FB_SERIAL_SINK_MAX_PER_VM, fb_serial_fork_bucket());
	return vm;
}

int fb_fork_restore_time(struct fb_vm *vm, const struct fb_template *t)
{
	if (fb_vm_state_restore_clock(vm->vm_fd, fb_template_vm(t)) < 0 ||
	    fb_vcpu_state_restore_time(vm->vcpu_fd, fb_template_vcpu(t, 0)) < 0)
		return fb_error_prefix("restore the guest's time");
	return 0;
}

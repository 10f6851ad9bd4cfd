/* Micro-guest templates with the VMM's device state (microguest_vmm.h). */
#include "microguest_vmm.h"

#include "util/error.h"
#include "vmm/serial.h"
#include "vmm/virtio/vsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define GUEST_CID 3

static int no_irq(void *opaque, int level)
{
	(void)opaque;
	(void)level;
	return 0;
}

static void no_vsock_irq(void *opaque)
{
	(void)opaque;
}

int mg_write_vmm_template(const char *path, unsigned iterations)
{
	/* A fresh UART and a fresh vsock device (no driver yet): their state
	 * is what fork.c restores. */
	struct fb_serial serial;
	uint8_t serial_blob[64];
	fb_serial_init(&serial, -1, no_irq, NULL);
	size_t serial_len = fb_serial_save(&serial, serial_blob, sizeof(serial_blob));
	struct fb_guest_mem mem = {.host = calloc(1, 4096), .size = 4096};
	struct fb_vsock *dev =
	    mem.host ? fb_vsock_create(&mem, GUEST_CID, no_vsock_irq, NULL) : NULL;
	void *vsock_blob = NULL;
	size_t vsock_len = 0;
	int r = -1;
	if (dev && serial_len && fb_vsock_save(dev, &vsock_blob, &vsock_len) == 0) {
		struct fb_template_blob devs[] = {
		    {.name = "serial", .data = serial_blob, .size = serial_len},
		    {.name = "vsock", .data = vsock_blob, .size = vsock_len}};
		r = mg_write_template_devices(path, iterations, NULL, devs, 2);
	} else if (!dev || !serial_len) {
		fb_error("micro-guest device state");
	}
	fb_vsock_destroy(dev);
	free(vsock_blob);
	free(mem.host);
	return r;
}

uint32_t mg_vm_counter(const struct fb_vm *vm)
{
	uint32_t c;
	memcpy(&c, vm->mem.host + MG_COUNTER_GPA, sizeof(c));
	return c;
}

int mg_vmm_run_to_out(struct fb_vm *vm)
{
	for (;;) {
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fb_error_errno("KVM_RUN");
		}
		if (vm->run->exit_reason == KVM_EXIT_IO && vm->run->io.port == MG_PORT)
			return 0;
		if (vm->run->exit_reason != KVM_EXIT_IO)
			return fb_error("micro-guest: exit reason %u", vm->run->exit_reason);
	}
}

int mg_vmm_set_rip(struct fb_vm *vm, uint64_t rip)
{
	struct kvm_regs regs;
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, &regs) < 0)
		return fb_error_errno("KVM_GET_REGS");
	regs.rip = rip;
	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return fb_error_errno("KVM_SET_REGS");
	return 0;
}

int mg_forkable_open(struct mg_forkable *m, unsigned iterations)
{
	*m = (struct mg_forkable){.kvm = {.fd = -1}};
	snprintf(m->path, sizeof(m->path), "/tmp/fb-microguest.XXXXXX");
	int fd = mkstemp(m->path);
	if (fd < 0)
		return fb_error_errno("mkstemp %s", m->path);
	close(fd);
	struct fb_template_ram_options ro = {0};
	if (mg_write_vmm_template(m->path, iterations) < 0 ||
	    fb_template_open(m->path, &m->t) < 0 || fb_kvm_open(&m->kvm) < 0 ||
	    fb_template_ram_load(m->t, &ro, &m->ram) < 0) {
		mg_forkable_close(m);
		return -1;
	}
	return 0;
}

void mg_forkable_close(struct mg_forkable *m)
{
	fb_template_ram_close(m->ram);
	fb_template_close(m->t);
	fb_kvm_close(&m->kvm);
	unlink(m->path);
	*m = (struct mg_forkable){.kvm = {.fd = -1}};
}

/* One KVM virtual machine: VM fd, in-kernel irqchip and PIT, guest RAM in
 * one memory slot, one vCPU (the layout leaves room for more), the serial
 * console and MMIO devices.
 *
 * Building and running are separate steps, so VMs can be prepared ahead of
 * a request and torn down off the request path:
 *   fb_vm_create()                  KVM objects, memory, vCPU with CPUID
 *   fb_vm_load_kernel() or a restore (fork.c) sets what the vCPU runs
 *   fb_vm_prepare()                 device I/O running, vCPU thread parked
 *   fb_vm_start() / fb_vm_wait()    run the vCPU on its own thread
 *   fb_vm_pause()                   stop the vCPU at a clean point (snapshots)
 *   fb_vm_destroy()
 * Another thread may call fb_vm_request_stop() at any time. */
#ifndef FORKBOX_VMM_VM_H
#define FORKBOX_VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/error.h"
#include "vmm/boot.h"
#include "vmm/guest_mem.h"
#include "vmm/kvm.h"
#include "vmm/serial.h"

#define FB_VM_TSS_ADDR		0xfffbd000ULL
#define FB_VM_IDENTITY_MAP_ADDR 0xfffbc000ULL
#define FB_VM_MAX_MMIO		4

struct fb_vsock;

/* Why the vCPU stopped. */
enum fb_vm_status {
	FB_VM_NOT_RUN = 0, /* never ran, or still running */
	FB_VM_STOPPED,	   /* fb_vm_request_stop()/fb_vm_pause(): may be resumed */
	FB_VM_POWEROFF,	   /* guest powered off (KVM system event) */
	FB_VM_RESET,	   /* guest reboot: i8042 reset, triple fault, KVM system event */
	FB_VM_PANIC,	   /* guest kernel panic (then reset), or KVM crash event */
	FB_VM_ERROR,	   /* KVM or device failure: see fb_vm_error() */
};

struct fb_vm_options {
	uint64_t mem_size; /* bytes, multiple of 4 KiB */
	/* Guest RAM: NULL = the VM creates a memfd of mem_size (template builds);
	 * else a mapping of mem_size bytes (forks: MAP_PRIVATE of a template),
	 * munmap()ed by fb_vm_destroy() when mem_owned. */
	void *mem;
	bool mem_owned;
	/* CPUID for the vCPU; NULL = fb_cpuid_build() on this host. */
	const struct kvm_cpuid2 *cpuid;
	int serial_fd;		   /* guest console sink; -1 drops it */
	fb_serial_line_fn line_fn; /* console line tap, may be NULL */
	void *line_opaque;
};

/* An MMIO region served in user space (virtio-mmio devices). offset is
 * relative to base; len is 1, 2, 4 or 8. read fills data; errors stop the VM. */
struct fb_vm_mmio {
	uint64_t base, size;
	int (*read)(void *opaque, uint64_t offset, void *data, unsigned len);
	int (*write)(void *opaque, uint64_t offset, const void *data, unsigned len);
	void *opaque;
};

struct fb_vm {
	const struct fb_kvm *kvm;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	struct fb_guest_mem mem;
	int mem_fd; /* memfd backing mem, or -1 */
	bool mem_owned;
	struct kvm_cpuid2 *cpuid;	   /* what the vCPU was given (owned copy) */
	char cmdline[FB_BOOT_CMDLINE_MAX]; /* what the guest booted with, if known */
	struct fb_serial serial;
	fb_serial_line_fn user_line_fn;
	void *user_line_opaque;
	struct fb_vm_mmio mmio[FB_VM_MAX_MMIO];
	unsigned nmmio;
	struct fb_vsock *vsock; /* attached by fb_vm_attach_vsock(), or NULL */
	bool vsock_running;	/* its I/O thread is started */
	bool debug;		/* $FORKBOX_VMM_DEBUG: log unknown port and MMIO accesses */

	/* Run control. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_live; /* a thread was started and not yet joined */
	bool running;	  /* that thread is parked or inside the run loop */
	bool released;	  /* fb_vm_start() let the parked thread run */
	atomic_bool stop_requested;
	bool panic_seen; /* the console printed a kernel panic */
	enum fb_vm_status status;
	char error[FB_ERROR_MAX]; /* detail for FB_VM_ERROR (and others) */
	uint64_t exits;		  /* exits to user space; read with fb_vm_exit_count() */
	uint64_t run_ns;	  /* vCPU thread inside KVM_RUN (guest, halted included) */
	uint64_t exit_ns;	  /* vCPU thread handling exits in user space */
	struct fb_vm *pool_next;  /* list link for src/vmm/vm_pool.c */
};

struct fb_vm *fb_vm_create(const struct fb_kvm *kvm, const struct fb_vm_options *opts);
void fb_vm_destroy(struct fb_vm *vm);

/* Load vmlinux + initramfs + cmdline into RAM and point the vCPU at the
 * 64-bit entry. */
int fb_vm_load_kernel(struct fb_vm *vm, const struct fb_boot_image *img);

/* Register an MMIO region (before fb_vm_start()). */
int fb_vm_add_mmio(struct fb_vm *vm, const struct fb_vm_mmio *region);

/* Set the level of a GSI (in-kernel PIC + IOAPIC), or pulse it (1 then 0). */
int fb_vm_irq_line(struct fb_vm *vm, uint32_t gsi, int level);
int fb_vm_irq_pulse(struct fb_vm *vm, uint32_t gsi);

/* Start the vsock device's I/O and a vCPU thread that waits, without
 * entering the guest, for fb_vm_start(): what a pool does ahead of a
 * request, so that starting costs one wake-up. */
int fb_vm_prepare(struct fb_vm *vm);
/* Run the vCPU: wakes the prepared thread, or prepares and wakes one. */
int fb_vm_start(struct fb_vm *vm);
/* Wait for the vCPU thread to end: returns its status, or FB_VM_NOT_RUN if
 * timeout_ms (< 0: forever) passed first. */
enum fb_vm_status fb_vm_wait(struct fb_vm *vm, int timeout_ms);
/* Ask the vCPU to stop soon (any thread, async-signal-unsafe). */
void fb_vm_request_stop(struct fb_vm *vm);
/* Stop the vCPU and join its thread, then pause the vsock device; pending
 * I/O is completed, so the state may be saved. Returns the final status. */
enum fb_vm_status fb_vm_pause(struct fb_vm *vm);

/* Exits handled so far (any thread; a quiet guest makes none). */
uint64_t fb_vm_exit_count(const struct fb_vm *vm);
/* Time the vCPU thread spent inside KVM_RUN and handling exits in user
 * space, in ns (exact once the thread has stopped). */
void fb_vm_run_times(const struct fb_vm *vm, uint64_t *run_ns, uint64_t *exit_ns);

const char *fb_vm_status_name(enum fb_vm_status status);
/* Human-readable detail of the last stop ("" if none). */
const char *fb_vm_error(const struct fb_vm *vm);

#endif

/* The engine's state, shared by engine.c (executions) and engine_stats.c
 * (an execution's costs); private to src/vmm. */
#ifndef FORKBOX_VMM_ENGINE_PRIV_H
#define FORKBOX_VMM_ENGINE_PRIV_H

#include "vmm/engine.h"
#include "vmm/kvm.h"
#include "vmm/kvm_stats.h"
#include "vmm/snapshot/template_file.h"
#include "vmm/template_ram.h"
#include "vmm/vm.h"
#include "vmm/vm_pool.h"
#include "vmm/working_set.h"

#include <stdatomic.h>
#include <stdbool.h>

struct fb_engine {
	struct fb_kvm kvm;
	struct fb_template *template;
	struct fb_template_ram *ram; /* NULL: forks map the template file */
	struct fb_working_set wset;  /* bits NULL: the template has none */
	bool prefetch;
	_Atomic int prefetch_method; /* enum fb_prefetch_method */
	bool kvm_stats;		     /* KVM_CAP_BINARY_STATS_FD */
	size_t default_output_limit;
	int serial_log_fd;
	struct fb_vm_pool *pool; /* NULL: every execution forks its VM */
};

struct fb_execution {
	struct fb_vm *vm;
	bool pooled;
	double spawn_ms, exec_ms;
};

/* Stops the vCPU and reads everything fb_exec_stats holds but teardown. */
void fb_engine_read_stats(struct fb_engine *e, struct fb_execution *x, struct fb_exec_stats *st);

/* Lets the VM go: retired to the pool, or destroyed here; returns the time
 * destroying took, or -1 when a pool thread does it. */
double fb_engine_release_vm(struct fb_engine *e, struct fb_vm *vm);

#endif

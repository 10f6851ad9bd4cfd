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
	struct fb_template_ram *ram;		   /* NULL: forks map the template file */
	struct fb_working_set wset;		   /* bits NULL: the template has none */
	uint64_t wset_read_pages, wset_copy_pages; /* bits set in each map */
	bool prefetch;
	_Atomic int prefetch_method; /* enum fb_prefetch_method */
	bool kvm_stats;		     /* KVM_CAP_BINARY_STATS_FD */
	size_t default_output_limit;
	int serial_log_fd;
	struct fb_vm_pool *pool; /* NULL: every execution forks its VM */
	/* Recording a working set (engine_wset.c): the VM just built has no
	 * fault-around while record_uffd (-1: none) is open. */
	bool recording;
	int record_uffd;
	char record_note[160]; /* why fault-around could not be avoided */
};

struct fb_execution {
	struct fb_vm *vm;
	bool pooled;
	double spawn_ms, exec_ms;
};

/* Stops the vCPU and reads everything fb_exec_stats holds but teardown. */
void fb_engine_read_stats(struct fb_engine *e, struct fb_execution *x, struct fb_exec_stats *st);

/* While recording: takes fault-around off vm's memory, before it runs;
 * record_end gives it back (closes record_uffd, if open). */
void fb_engine_record_begin(struct fb_engine *e, struct fb_vm *vm);
void fb_engine_record_end(struct fb_engine *e);

/* Lets the VM go: retired to the pool, or destroyed here; returns the time
 * destroying took, or -1 when a pool thread does it. */
double fb_engine_release_vm(struct fb_engine *e, struct fb_vm *vm);

#endif

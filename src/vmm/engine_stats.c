/* What an execution cost, read from its VM before teardown: KVM's own
 * counters (exits by reason, faults, pages mapped for the guest), the host
 * mapping's pages (shared or copied), and the vCPU thread's time. */
#include "vmm/engine_priv.h"

#include "util/error.h"
#include "vmm/guest_pages.h"

#include <stdio.h>
#include <string.h>

static const char *const vcpu_counters[] = {
    "exits",
    "io_exits",
    "mmio_exits",
    "halt_exits",
    "irq_exits",
    "irq_window_exits",
    "nmi_window_exits",
    "signal_exits",
    "request_irq_exits",
    "pf_taken",
    "pf_fixed",
    "pf_emulate",
    "pf_spurious",
    "pf_fast",
    "pf_guest",
    "insn_emulation",
    "hypercalls",
    "irq_injections",
    "halt_wakeup",
    "tlb_flush",
    "halt_wait_ns",
};

static const char *const vm_counters[] = {"pages_4k", "pages_2m", "pages_1g", "remote_tlb_flush"};

#define NV (sizeof(vcpu_counters) / sizeof(vcpu_counters[0]))
#define NM (sizeof(vm_counters) / sizeof(vm_counters[0]))

static void copy_counters(struct fb_exec_stats *st, const struct fb_kvm_stat *k, int n)
{
	for (int i = 0; i < n && st->ncounters < FB_EXEC_MAX_COUNTERS; i++) {
		snprintf(st->counters[st->ncounters].name, sizeof(st->counters[0].name), "%.31s",
			 k[i].name);
		st->counters[st->ncounters++].value = k[i].value;
	}
}

/* Pages KVM maps for the guest, whatever their size, in 4 KiB pages. */
static int64_t guest_pages(const struct fb_kvm_stat *k, int n)
{
	int64_t p4 = fb_kvm_stat_value(k, (size_t)n, "pages_4k");
	int64_t p2 = fb_kvm_stat_value(k, (size_t)n, "pages_2m");
	int64_t p1 = fb_kvm_stat_value(k, (size_t)n, "pages_1g");
	if (p4 < 0)
		return -1;
	return p4 + (p2 > 0 ? p2 * 512 : 0) + (p1 > 0 ? p1 * 512 * 512 : 0);
}

static void read_kvm_counters(struct fb_engine *e, struct fb_vm *vm, struct fb_exec_stats *st)
{
	struct fb_kvm_stat k[NV + NM];
	if (!e->kvm_stats) {
		snprintf(st->kvm_stats_note, sizeof(st->kvm_stats_note),
			 "this kernel's KVM has no binary statistics (KVM_CAP_BINARY_STATS_FD, "
			 "Linux 5.14+): no exit or page counts");
		return;
	}
	int nv = fb_kvm_stats_read(vm->vcpu_fd, vcpu_counters, NV, k, NV + NM);
	int nm = nv < 0 ? -1 : fb_kvm_stats_read(vm->vm_fd, vm_counters, NM, k + nv, NM);
	if (nv < 0 || nm < 0) {
		snprintf(st->kvm_stats_note, sizeof(st->kvm_stats_note), "%.159s", fb_error_last());
		return;
	}
	st->kvm_stats = true;
	copy_counters(st, k, nv + nm);
	int64_t halt = fb_kvm_stat_value(k, (size_t)nv, "halt_wait_ns");
	st->halted_ms = halt < 0 ? -1 : (double)halt / 1e6;
	st->pages_guest = guest_pages(k + nv, nm);
}

void fb_engine_read_stats(struct fb_engine *e, struct fb_execution *x, struct fb_exec_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->pooled = x->pooled;
	st->spawn_ms = x->spawn_ms;
	st->exec_ms = x->exec_ms;
	st->halted_ms = -1;
	st->pages_guest = -1;
	/* Stopped first, so the times below are final. */
	fb_vm_request_stop(x->vm);
	fb_vm_wait(x->vm, -1);
	uint64_t run_ns, exit_ns;
	fb_vm_run_times(x->vm, &run_ns, &exit_ns);
	st->vmm_ms = (double)exit_ns / 1e6;
	st->vmm_exits = fb_vm_exit_count(x->vm);
	read_kvm_counters(e, x->vm, st);
	double run_ms = (double)run_ns / 1e6;
	st->guest_ms =
	    st->halted_ms >= 0 && st->halted_ms <= run_ms ? run_ms - st->halted_ms : run_ms;
	struct fb_guest_page_counts pc;
	if (e->prefetch) {
		st->pages_prefetched = e->wset_read_pages + e->wset_copy_pages;
		st->pages_copied_ahead = e->wset_copy_pages;
	}
	if (fb_guest_pages_count(x->vm->mem.host, x->vm->mem.size, &pc) == 0) {
		st->pages_shared = pc.shared;
		st->pages_copied = pc.copied;
	}
}

int fb_engine_before_sandbox(void)
{
	return fb_guest_pages_open();
}

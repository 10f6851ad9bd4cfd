/* Formatting of an execution's costs for `forkbox run --stats`. */
#include "cli/run_stats.h"

#define KIB(pages) ((unsigned long long)(pages)*4)

static void print_counters(FILE *f, const struct fb_exec_stats *st)
{
	if (!st->kvm_stats) {
		fprintf(f, "  KVM counters: none: %s\n", st->kvm_stats_note);
		return;
	}
	fputs("  KVM counters:", f);
	for (unsigned i = 0; i < st->ncounters; i++)
		fprintf(f, "%s %s %llu", i ? "," : "", st->counters[i].name,
			(unsigned long long)st->counters[i].value);
	fputc('\n', f);
}

void fb_run_stats_print(FILE *f, const struct fb_exec_stats *st)
{
	fprintf(f, "forkbox run: stats\n");
	fprintf(f, "  spawn %.3f ms (%s), exec %.3f ms, teardown %.3f ms\n", st->spawn_ms,
		st->pooled ? "from the pool" : "VM built now", st->exec_ms, st->teardown_ms);
	fprintf(f, "  vCPU: in the guest %.3f ms", st->guest_ms);
	if (st->halted_ms >= 0)
		fprintf(f, ", halted %.3f ms", st->halted_ms);
	fprintf(f, ", in the VMM %.3f ms (%llu exits to user space)\n", st->vmm_ms,
		(unsigned long long)st->vmm_exits);
	if (st->pages_guest >= 0)
		fprintf(f, "  guest pages mapped by KVM: %lld (%llu KiB)\n",
			(long long)st->pages_guest, KIB(st->pages_guest));
	if (st->pages_prefetched)
		fprintf(f,
			"  working set prefetched before the run: %llu pages (%llu KiB), %llu of "
			"them copied ahead\n",
			(unsigned long long)st->pages_prefetched, KIB(st->pages_prefetched),
			(unsigned long long)st->pages_copied_ahead);
	fprintf(f,
		"  host mapping of guest memory: %llu template pages shared (%llu KiB, "
		"fault-around included), %llu copied (%llu KiB)\n",
		(unsigned long long)st->pages_shared, KIB(st->pages_shared),
		(unsigned long long)st->pages_copied, KIB(st->pages_copied));
	print_counters(f, st);
}

static json_t *counters_json(const struct fb_exec_stats *st)
{
	if (!st->kvm_stats)
		return json_null();
	json_t *o = json_object();
	for (unsigned i = 0; o && i < st->ncounters; i++)
		json_object_set_new(o, st->counters[i].name,
				    json_integer((json_int_t)st->counters[i].value));
	return o;
}

json_t *fb_run_stats_json(const struct fb_exec_stats *st)
{
	json_t *o = json_pack(
	    "{s:b, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I}", "pooled", st->pooled,
	    "spawn_ms", st->spawn_ms, "exec_ms", st->exec_ms, "teardown_ms", st->teardown_ms,
	    "guest_ms", st->guest_ms, "vmm_ms", st->vmm_ms, "vmm_exits", (json_int_t)st->vmm_exits,
	    "pages_shared", (json_int_t)st->pages_shared, "pages_copied",
	    (json_int_t)st->pages_copied, "pages_prefetched", (json_int_t)st->pages_prefetched,
	    "pages_copied_ahead", (json_int_t)st->pages_copied_ahead);
	if (!o)
		return NULL;
	json_object_set_new(o, "halted_ms",
			    st->halted_ms >= 0 ? json_real(st->halted_ms) : json_null());
	json_object_set_new(o, "pages_guest",
			    st->pages_guest >= 0 ? json_integer(st->pages_guest) : json_null());
	json_object_set_new(o, "kvm_counters", counters_json(st));
	if (!st->kvm_stats)
		json_object_set_new(o, "kvm_counters_missing", json_string(st->kvm_stats_note));
	return o;
}

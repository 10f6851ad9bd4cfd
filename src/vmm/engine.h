/* The execution engine: one template held in memory, a fresh CoW-forked VM
 * per execution. This is the API the CLI (`forkbox run`) and the FastCGI
 * workers use; everything below it (KVM, devices, snapshot, agent protocol)
 * stays inside src/vmm and src/proto.
 *
 * Thread safety: one fb_engine may be used by many threads at once; every
 * fb_engine_exec() call gets its own VM. After fork(), a child process may
 * keep using an engine opened by its parent (the template and its memory
 * are shared, read-only), but must start its own VM pool: threads do not
 * survive fork(). */
#ifndef FORKBOX_VMM_ENGINE_H
#define FORKBOX_VMM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fb_engine;

enum fb_stream { FB_STREAM_STDOUT = 1, FB_STREAM_STDERR = 2 };

struct fb_exec_request {
	const char *code; /* not NUL-terminated necessarily */
	size_t code_len;
	const char *language; /* "python" (default when NULL) */
	double timeout_s;     /* wall-clock limit for the execution */
	size_t output_limit;  /* bytes of stdout+stderr kept; 0 = engine default */
};

struct fb_exec_callbacks {
	/* Called as output arrives (may be NULL). Return non-zero to abort the
	 * execution (client went away). */
	int (*on_output)(void *ctx, enum fb_stream stream, const void *data, size_t len);
	/* Asked about every 100 ms while the code runs (may be NULL): true ends
	 * the execution at once (the client went away); the VM is destroyed and
	 * fb_engine_exec() returns -1. */
	bool (*cancelled)(void *ctx);
	void *ctx;
};

/* An execution whose VM still exists (see fb_engine_exec()). */
struct fb_execution;

struct fb_exec_result {
	char id[40];	     /* unique execution id (UUID text) */
	int exit_code;	     /* exit status; 128+N after death by signal N */
	int term_signal;     /* signal that killed the guest process, 0 if none */
	bool timed_out;	     /* killed at timeout_s */
	bool truncated;	     /* output beyond output_limit was dropped */
	double fork_time_ms; /* a VM to run: taken from the pool or built, started */
	double exec_time_ms; /* request sent to exit received */
	double total_time_ms;
};

#define FB_EXEC_MAX_COUNTERS 32

/* What one execution cost, read before its VM is destroyed. */
struct fb_exec_stats {
	bool pooled;	    /* the VM came ready from the pool */
	double spawn_ms;    /* = fork_time_ms */
	double exec_ms;	    /* = exec_time_ms */
	double teardown_ms; /* destroying the VM; -1: a pool thread does it later */
	double guest_ms;    /* vCPU in the guest (KVM_RUN), halted time excluded if known */
	double halted_ms;   /* vCPU halted in the guest (idle), -1 if unknown */
	double vmm_ms;	    /* vCPU thread handling exits in user space */
	uint64_t vmm_exits; /* exits handled in user space */
	/* Host mapping of guest memory (/proc/self/pagemap): */
	uint64_t pages_shared; /* template pages mapped unchanged (host fault-around included) */
	uint64_t pages_copied; /* private copies: pages the guest wrote */
	/* Of those, mapped before the run by the working-set prefetch (0
	 * without): pages read, and pages copied ahead (counted in copied). */
	uint64_t pages_prefetched, pages_copied_ahead;
	/* KVM's binary statistics (KVM_GET_STATS_FD), when the kernel has them: */
	bool kvm_stats;
	char kvm_stats_note[160]; /* why there are none */
	int64_t pages_guest;	  /* pages KVM mapped for the guest (prefetched included); -1 */
	unsigned ncounters;	  /* exits by reason, faults, ... (name, value) */
	struct {
		char name[32];
		uint64_t value;
	} counters[FB_EXEC_MAX_COUNTERS];
};

struct fb_engine_options {
	const char *template_path;
	size_t default_output_limit;
	int serial_log_fd; /* guest console of each fork goes here; -1 drops it */
	/* Hold the template's memory in RAM (a sealed memfd every fork maps):
	 * what a server wants. false: forks map the template file (a one-shot
	 * `forkbox run` does not pay for copying it). */
	bool memory_in_ram;
	bool lock_memory; /* with memory_in_ram: mlock it */
	bool huge_pages;  /* with memory_in_ram: transparent huge pages */
	bool prefetch;	  /* map the template's working set into each VM before it runs */
};

/* In a process that is about to install the seccomp filter (vmm/seccomp.h,
 * which forbids open()): open now what executions read later
 * (/proc/self/pagemap, for their costs). 0 or -1. */
int fb_engine_before_sandbox(void);

/* Open a template file and check it against this host. Returns NULL with
 * fb_error_last() set. */
struct fb_engine *fb_engine_open(const struct fb_engine_options *opts);
/* Stops the pool (if any) first. */
void fb_engine_close(struct fb_engine *engine);

struct fb_engine_pool_options {
	unsigned depth;	  /* VMs kept ready; 0: no pool */
	unsigned threads; /* background threads building and destroying VMs */
};

/* Start a pool of ready VMs (src/vmm/vm_pool.h) in this process: from now
 * on an execution takes a VM built ahead and only starts it. 0 or -1. */
int fb_engine_pool_start(struct fb_engine *engine, const struct fb_engine_pool_options *opts);
/* Destroys the pool; every held execution must be finished before. */
void fb_engine_pool_stop(struct fb_engine *engine);

/* Run the request in a VM (from the pool, else built now), stream output,
 * fill result. Returns 0 when the execution ran (whatever its exit code),
 * -1 on an engine failure (message in fb_error_last()).
 *
 * held NULL: the VM is let go before returning (destroyed here without a
 * pool, by a pool thread with one). held not NULL (and 0 returned): the VM
 * still exists, idle, until fb_engine_finish(*held): a server sends its
 * response first, so that destroying the VM is never on the response's
 * path, and may read the execution's costs. */
int fb_engine_exec(struct fb_engine *engine, const struct fb_exec_request *req,
		   const struct fb_exec_callbacks *cb, struct fb_exec_result *result,
		   struct fb_execution **held);

/* Lets go of a held execution's VM (see above); stats (may be NULL) gets
 * what it cost. */
void fb_engine_finish(struct fb_engine *engine, struct fb_execution *exec,
		      struct fb_exec_stats *stats);

/* The working set of the template: runs each of codes[0..n) (each must
 * exit 0) in its own VM and sets bit i of read_bits (1 bit per 4 KiB guest
 * page, LSB first; guest memory / 4 KiB bits, zeroed by the caller) for
 * every template page the VM's memory mapping held afterwards without
 * having written it, and of write_bits for every page it copied (wrote).
 * Host read faults would map neighbouring pages too (fault-around): the
 * forks run without it where the kernel allows (guest_pages.h); where it
 * does not, read_bits also holds neighbours of the pages read, and note
 * (note_cap bytes, "" otherwise) says why. For template builds (engine
 * opened without prefetch, no pool). 0 or -1 + fb_error_last(). */
int fb_engine_record_working_set(struct fb_engine *engine, const char *const *codes, size_t n,
				 uint8_t *read_bits, uint8_t *write_bits, char *note,
				 size_t note_cap);

/* The pool's counters (cumulative since it started). */
struct fb_engine_pool_counts {
	unsigned depth, threads, ready;
	uint64_t hits, misses;		/* executions served from the pool / built inline */
	uint64_t built, build_failures; /* by the pool's threads (failures: inline too) */
	uint64_t destroyed;		/* used VMs destroyed by the pool's threads */
	double destroy_ms_total;
};

/* false (c untouched) when this process runs no pool. Cheap. */
bool fb_engine_pool_counts(struct fb_engine *engine, struct fb_engine_pool_counts *c);

/* Facts for /v1/health and /v1/metrics (reads the template's residency). */
struct fb_engine_info {
	const char *template_path;
	/* From the template's metadata (template_store.h): */
	const char *runtime;  /* "python", "node" */
	unsigned generation;  /* 0 when it records none (a file built by hand) */
	int64_t created_unix; /* build time, 0 when unknown */
	uint64_t guest_memory_bytes;
	bool ready;
	bool memory_in_ram;
	uint64_t resident_bytes; /* template memory in RAM now (memory_in_ram) */
	uint64_t huge_bytes;	 /* of it in huge pages */
	bool locked;
	uint64_t working_set_pages;	 /* read, recorded in the template (0: none) */
	uint64_t working_set_copy_pages; /* written, recorded in it (0: none) */
	bool prefetch; /* both mapped into each VM before it runs (written: copied) */
	const char *prefetch_method;
	bool pool; /* this process runs a pool: pool_counts */
	struct fb_engine_pool_counts pool_counts;
};
void fb_engine_info(struct fb_engine *engine, struct fb_engine_info *info);

#endif

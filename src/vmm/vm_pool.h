/* A pool of ready VMs: background threads keep `depth` VMs built ahead of
 * requests (created, memory mapped, state restored, device I/O and a parked
 * vCPU thread started, the guest never run) and destroy used ones. A
 * request takes a VM and only starts it; a VM is never handed out twice.
 * When the pool is empty, take() builds the VM on the caller's thread (a
 * miss: it never waits for a refill). Used VMs go back through retire(),
 * which only queues them: the pool's threads destroy them, off the
 * request path.
 *
 * The pool does not know what it builds: its build function makes one
 * ready VM (the engine forks its template). One pool serves one template; a
 * template replaced by a new generation gets a new pool while VMs taken
 * from the old one finish and are retired to it.
 *
 * Threads do not survive fork(): create the pool in the process that uses
 * it (each forkbox-fcgi worker has its own). All functions are thread-safe. */
#ifndef FORKBOX_VMM_VM_POOL_H
#define FORKBOX_VMM_VM_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/vm.h"

#define FB_VM_POOL_MAX_DEPTH   1024
#define FB_VM_POOL_MAX_THREADS 64

struct fb_vm_pool_options {
	unsigned depth;	  /* VMs kept ready (0: none, every take() builds) */
	unsigned threads; /* background threads that build and destroy (1..64) */
};

/* What the pool builds and how it disposes of it. build makes one VM ready
 * to start (fb_vm_prepare() done), or returns NULL with fb_error_last()
 * set; it runs on pool threads and, for a miss, on the taking thread.
 * destroy (NULL: fb_vm_destroy) runs on pool threads only. */
struct fb_vm_pool_ops {
	struct fb_vm *(*build)(void *ctx);
	void (*destroy)(void *ctx, struct fb_vm *vm);
	void *ctx;
};

struct fb_vm_pool_stats {
	unsigned depth, threads;
	unsigned ready;		  /* VMs ready now */
	uint64_t hits;		  /* take() served from the pool */
	uint64_t misses;	  /* take() found it empty and built inline */
	uint64_t built;		  /* VMs the pool threads built */
	uint64_t build_failures;  /* builds that failed (pool threads and inline) */
	uint64_t destroyed;	  /* retired VMs destroyed */
	uint64_t retired_waiting; /* retired VMs not yet destroyed */
	double build_ms_total;	  /* time the pool threads spent building */
	double destroy_ms_total;  /* time spent destroying */
};

struct fb_vm_pool;

/* Starts the threads; they fill the pool at once. NULL + fb_error_last(). */
struct fb_vm_pool *fb_vm_pool_create(const struct fb_vm_pool_options *opts,
				     const struct fb_vm_pool_ops *ops);

/* A VM to start: from the pool (*from_pool true) or built now (a miss).
 * NULL + fb_error_last() if building failed. */
struct fb_vm *fb_vm_pool_take(struct fb_vm_pool *pool, bool *from_pool);

/* Hands a VM taken from this pool back for destruction by a pool thread;
 * returns at once. The VM must not be used afterwards. */
void fb_vm_pool_retire(struct fb_vm_pool *pool, struct fb_vm *vm);

void fb_vm_pool_get_stats(struct fb_vm_pool *pool, struct fb_vm_pool_stats *stats);

/* Waits until every taken VM was retired, destroys all VMs, joins the
 * threads, frees the pool. */
void fb_vm_pool_destroy(struct fb_vm_pool *pool);

#endif

/* The ready-VM pool: a FIFO of built VMs, a list of retired ones, and
 * threads that build and destroy. KVM's VM construction and teardown mostly
 * sleep (memory slot and VM destruction wait for RCU grace periods), so
 * several threads overlap them on few CPUs. */
#include "vmm/vm_pool.h"

#include "util/clock.h"
#include "util/error.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define BUILD_RETRY_MS 1000 /* after a failed build, before the next try */

struct fb_vm_pool {
	struct fb_vm_pool_options opts;
	struct fb_vm_pool_ops ops;
	pthread_mutex_t lock;
	pthread_cond_t work;  /* for pool threads: something to build or destroy */
	pthread_cond_t idle;  /* for destroy(): outstanding reached 0 */
	struct fb_vm **ready; /* FIFO ring of opts.depth slots */
	unsigned head, count;
	unsigned building;	     /* builds in progress by pool threads */
	struct fb_vm *retired;	     /* singly linked through pool_next */
	unsigned outstanding;	     /* taken and not yet retired */
	struct timespec retry_after; /* no pool builds before this (CLOCK_MONOTONIC) */
	bool stopping;
	struct fb_vm_pool_stats st;
	pthread_t *threads;
	unsigned nthreads;
};

static void push_ready(struct fb_vm_pool *p, struct fb_vm *vm)
{
	p->ready[(p->head + p->count) % p->opts.depth] = vm;
	p->count++;
}

static struct fb_vm *pop_ready(struct fb_vm_pool *p)
{
	struct fb_vm *vm = p->ready[p->head];
	p->head = (p->head + 1) % p->opts.depth;
	p->count--;
	return vm;
}

static struct fb_vm *pop_retired(struct fb_vm_pool *p)
{
	struct fb_vm *vm = p->retired;
	p->retired = vm->pool_next;
	vm->pool_next = NULL;
	p->st.retired_waiting--;
	return vm;
}

static bool may_build(const struct fb_vm_pool *p)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > p->retry_after.tv_sec ||
	       (now.tv_sec == p->retry_after.tv_sec && now.tv_nsec >= p->retry_after.tv_nsec);
}

static bool want_build(const struct fb_vm_pool *p)
{
	return !p->stopping && p->count + p->building < p->opts.depth && may_build(p);
}

/* Destroying comes first when retired VMs pile up (memory), else refilling
 * (latency of the next request). */
static bool want_destroy(const struct fb_vm_pool *p)
{
	if (!p->retired)
		return false;
	return !want_build(p) || p->st.retired_waiting > p->opts.depth + p->nthreads;
}

static void dispose(struct fb_vm_pool *p, struct fb_vm *vm)
{
	if (p->ops.destroy)
		p->ops.destroy(p->ops.ctx, vm);
	else
		fb_vm_destroy(vm);
}

static void destroy_one(struct fb_vm_pool *p)
{
	struct fb_vm *vm = pop_retired(p);
	pthread_mutex_unlock(&p->lock);
	double t0 = fb_clock_ms();
	dispose(p, vm);
	double ms = fb_clock_ms() - t0;
	pthread_mutex_lock(&p->lock);
	p->st.destroyed++;
	p->st.destroy_ms_total += ms;
}

static void note_build_failure(struct fb_vm_pool *p)
{
	p->st.build_failures++;
	clock_gettime(CLOCK_MONOTONIC, &p->retry_after);
	p->retry_after.tv_sec += BUILD_RETRY_MS / 1000;
}

static void build_one(struct fb_vm_pool *p)
{
	p->building++;
	pthread_mutex_unlock(&p->lock);
	double t0 = fb_clock_ms();
	struct fb_vm *vm = p->ops.build(p->ops.ctx);
	double ms = fb_clock_ms() - t0;
	pthread_mutex_lock(&p->lock);
	p->building--;
	if (!vm) {
		note_build_failure(p);
		return;
	}
	p->st.built++;
	p->st.build_ms_total += ms;
	if (p->stopping) {
		vm->pool_next = p->retired;
		p->retired = vm;
		p->st.retired_waiting++;
		return;
	}
	push_ready(p, vm);
}

/* Sleeps until there is work, or until a failed build may be retried
 * (retry_after and the condition variable both use CLOCK_MONOTONIC). */
static void wait_for_work(struct fb_vm_pool *p)
{
	bool retry_pending =
	    !p->stopping && !may_build(p) && p->count + p->building < p->opts.depth;
	if (retry_pending)
		pthread_cond_timedwait(&p->work, &p->lock, &p->retry_after);
	else
		pthread_cond_wait(&p->work, &p->lock);
}

static void *pool_thread(void *arg)
{
	struct fb_vm_pool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (want_destroy(p))
			destroy_one(p);
		else if (want_build(p))
			build_one(p);
		else if (p->stopping)
			break;
		else
			wait_for_work(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int init_sync(struct fb_vm_pool *p)
{
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC))
		return fb_error("VM pool: condition variable attributes");
	int err = pthread_cond_init(&p->work, &attr);
	pthread_condattr_destroy(&attr);
	if (err || pthread_cond_init(&p->idle, NULL) || pthread_mutex_init(&p->lock, NULL))
		return fb_error("VM pool: cannot create locks");
	return 0;
}

static int check_options(const struct fb_vm_pool_options *o)
{
	if (o->depth > FB_VM_POOL_MAX_DEPTH)
		return fb_error("VM pool depth %u is above %u", o->depth, FB_VM_POOL_MAX_DEPTH);
	if (o->threads < 1 || o->threads > FB_VM_POOL_MAX_THREADS)
		return fb_error("VM pool threads %u not in 1..%u", o->threads,
				FB_VM_POOL_MAX_THREADS);
	return 0;
}

struct fb_vm_pool *fb_vm_pool_create(const struct fb_vm_pool_options *opts,
				     const struct fb_vm_pool_ops *ops)
{
	if (check_options(opts) < 0)
		return NULL;
	struct fb_vm_pool *p = calloc(1, sizeof(*p));
	if (!p || !(p->ready = calloc(opts->depth ? opts->depth : 1, sizeof(*p->ready))) ||
	    !(p->threads = calloc(opts->threads, sizeof(*p->threads)))) {
		if (p)
			free(p->ready);
		free(p);
		fb_error("VM pool: out of memory");
		return NULL;
	}
	p->opts = *opts;
	p->ops = *ops;
	p->st.depth = opts->depth;
	p->st.threads = opts->threads;
	if (init_sync(p) < 0) {
		free(p->threads);
		free(p->ready);
		free(p);
		return NULL;
	}
	for (; p->nthreads < opts->threads; p->nthreads++) {
		int err = pthread_create(&p->threads[p->nthreads], NULL, pool_thread, p);
		if (err) {
			errno = err;
			fb_error_errno("VM pool: pthread_create");
			fb_vm_pool_destroy(p);
			return NULL;
		}
	}
	return p;
}

struct fb_vm *fb_vm_pool_take(struct fb_vm_pool *p, bool *from_pool)
{
	pthread_mutex_lock(&p->lock);
	struct fb_vm *vm = p->count ? pop_ready(p) : NULL;
	*from_pool = vm != NULL;
	if (vm)
		p->st.hits++;
	else
		p->st.misses++;
	p->outstanding++;
	pthread_cond_signal(&p->work); /* one slot to refill */
	pthread_mutex_unlock(&p->lock);
	if (vm)
		return vm;
	vm = p->ops.build(p->ops.ctx);
	if (!vm) {
		pthread_mutex_lock(&p->lock);
		p->st.build_failures++;
		p->outstanding--;
		pthread_cond_broadcast(&p->idle);
		pthread_mutex_unlock(&p->lock);
	}
	return vm;
}

void fb_vm_pool_retire(struct fb_vm_pool *p, struct fb_vm *vm)
{
	pthread_mutex_lock(&p->lock);
	vm->pool_next = p->retired;
	p->retired = vm;
	p->st.retired_waiting++;
	p->outstanding--;
	pthread_cond_signal(&p->work);
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
}

void fb_vm_pool_get_stats(struct fb_vm_pool *p, struct fb_vm_pool_stats *stats)
{
	pthread_mutex_lock(&p->lock);
	*stats = p->st;
	stats->ready = p->count;
	pthread_mutex_unlock(&p->lock);
}

void fb_vm_pool_destroy(struct fb_vm_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	while (p->outstanding)
		pthread_cond_wait(&p->idle, &p->lock);
	p->stopping = true;
	/* Ready VMs were never used: destroyed like retired ones. */
	while (p->count) {
		struct fb_vm *vm = pop_ready(p);
		vm->pool_next = p->retired;
		p->retired = vm;
		p->st.retired_waiting++;
	}
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* Without threads (creation failed) nothing else destroyed them. */
	while (p->retired)
		dispose(p, pop_retired(p));
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p->ready);
	free(p);
}

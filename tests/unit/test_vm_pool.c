/* The ready-VM pool (src/vmm/vm_pool.c) with real VMs: forks of the ring-3
 * micro-guest template (microguest_vmm.h) through fb_fork_create(), their
 * memory from the template in RAM (fb_template_ram), built by the pool's
 * threads or inline. Runs natively on any /dev/kvm, PVM included.
 *
 * A VM fresh from the template shows the snapshot's counter (100); once it
 * ran, more. Before retiring a VM the test writes a "response sent" mark
 * into its memory; the destroy hook checks it, so destruction provably
 * comes after the response, and notes the thread it runs on. */
#include "microguest_vmm.h"

#include "util/error.h"
#include "vmm/fork.h"
#include "vmm/kvm.h"
#include "vmm/template_ram.h"
#include "vmm/vm_pool.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SNAPSHOT_COUNTER 100
#define MARK_GPA	 0x30000u
#define RESPONSE_SENT	 0x53454e54u /* "SENT" */
#define WAIT_MS		 20000	     /* generous: the machine may be busy */

struct fixture {
	struct mg_forkable fk;
	pthread_t test_thread;
	atomic_int built_inline, built_by_pool;
	atomic_int destroyed, destroyed_inline, destroyed_unmarked;
};

static struct fb_vm *build(void *ctx)
{
	struct fixture *f = ctx;
	struct fb_fork_options fo = {.ram = f->fk.ram, .serial_fd = -1};
	struct fb_vm *vm = fb_fork_create(&f->fk.kvm, f->fk.t, &fo);
	if (!vm)
		return NULL;
	if (fb_vm_prepare(vm) < 0) {
		fb_vm_destroy(vm);
		return NULL;
	}
	atomic_fetch_add(pthread_equal(pthread_self(), f->test_thread) ? &f->built_inline
								       : &f->built_by_pool,
			 1);
	return vm;
}

static void destroy(void *ctx, struct fb_vm *vm)
{
	struct fixture *f = ctx;
	uint32_t mark;
	memcpy(&mark, vm->mem.host + MARK_GPA, sizeof(mark));
	if (mark != RESPONSE_SENT)
		atomic_fetch_add(&f->destroyed_unmarked, 1);
	if (pthread_equal(pthread_self(), f->test_thread))
		atomic_fetch_add(&f->destroyed_inline, 1);
	fb_vm_destroy(vm);
	atomic_fetch_add(&f->destroyed, 1);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	if (mg_forkable_open(&f->fk, SNAPSHOT_COUNTER) < 0)
		fail_msg("setup: %s", fb_error_last());
	f->test_thread = pthread_self();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mg_forkable_close(&f->fk);
	free(f);
	return 0;
}

static struct fb_vm_pool *make_pool(struct fixture *f, unsigned depth, unsigned threads)
{
	struct fb_vm_pool_options o = {.depth = depth, .threads = threads};
	struct fb_vm_pool_ops ops = {.build = build, .destroy = destroy, .ctx = f};
	struct fb_vm_pool *p = fb_vm_pool_create(&o, &ops);
	if (!p)
		fail_msg("pool: %s", fb_error_last());
	return p;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static struct fb_vm_pool_stats stats_of(struct fb_vm_pool *p)
{
	struct fb_vm_pool_stats s;
	fb_vm_pool_get_stats(p, &s);
	return s;
}

static void wait_ready(struct fb_vm_pool *p, unsigned n)
{
	for (int waited = 0; stats_of(p).ready < n; waited++) {
		if (waited > WAIT_MS)
			fail_msg("pool not refilled to %u in %d ms (%u ready)", n, WAIT_MS,
				 stats_of(p).ready);
		sleep_ms(1);
	}
}

static void wait_destroyed(struct fixture *f, int n)
{
	for (int waited = 0; atomic_load(&f->destroyed) < n; waited++) {
		if (waited > WAIT_MS)
			fail_msg("%d VMs destroyed after %d ms, expected %d",
				 atomic_load(&f->destroyed), WAIT_MS, n);
		sleep_ms(1);
	}
}

/* A request's life: the VM is fresh, it runs, the response is sent. */
static void serve(struct fb_vm *vm)
{
	assert_int_equal(mg_vm_counter(vm), SNAPSHOT_COUNTER); /* never ran before */
	assert_int_equal(fb_vm_start(vm), 0);
	for (int waited = 0; mg_vm_counter(vm) <= SNAPSHOT_COUNTER; waited++) {
		if (waited > WAIT_MS)
			fail_msg("the guest did not run");
		sleep_ms(1);
	}
	uint32_t mark = RESPONSE_SENT;
	memcpy(vm->mem.host + MARK_GPA, &mark, sizeof(mark));
}

static void test_served_from_pool(void **state)
{
	struct fixture *f = *state;
	struct fb_vm_pool *p = make_pool(f, 2, 1);
	wait_ready(p, 2);
	bool from_pool = false;
	struct fb_vm *vm = fb_vm_pool_take(p, &from_pool);
	assert_non_null(vm);
	assert_true(from_pool);
	assert_int_equal(atomic_load(&f->built_inline), 0);
	serve(vm);
	fb_vm_pool_retire(p, vm);
	wait_destroyed(f, 1);
	struct fb_vm_pool_stats s = stats_of(p);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.misses, 0);
	fb_vm_pool_destroy(p);
	/* The two ready VMs that never ran are destroyed too. */
	assert_int_equal(atomic_load(&f->destroyed), 3);
}

static void test_miss_builds_inline(void **state)
{
	struct fixture *f = *state;
	struct fb_vm_pool *p = make_pool(f, 0, 1);
	bool from_pool = true;
	struct fb_vm *vm = fb_vm_pool_take(p, &from_pool);
	assert_non_null(vm);
	assert_false(from_pool);
	assert_int_equal(atomic_load(&f->built_inline), 1);
	assert_int_equal(atomic_load(&f->built_by_pool), 0);
	serve(vm);
	fb_vm_pool_retire(p, vm);
	struct fb_vm_pool_stats s = stats_of(p);
	assert_int_equal(s.hits, 0);
	assert_int_equal(s.misses, 1);
	fb_vm_pool_destroy(p);
	assert_int_equal(atomic_load(&f->destroyed), 1);
}

/* Every take gets a VM that never ran, across many refills. */
static void test_never_reused(void **state)
{
	struct fixture *f = *state;
	struct fb_vm_pool *p = make_pool(f, 3, 2);
	for (int i = 0; i < 30; i++) {
		bool from_pool;
		struct fb_vm *vm = fb_vm_pool_take(p, &from_pool);
		assert_non_null(vm);
		serve(vm);
		fb_vm_pool_retire(p, vm);
	}
	struct fb_vm_pool_stats s = stats_of(p);
	assert_int_equal(s.hits + s.misses, 30);
	assert_true(s.hits > 0);
	fb_vm_pool_destroy(p);
	assert_int_equal(atomic_load(&f->built_inline) + atomic_load(&f->built_by_pool),
			 atomic_load(&f->destroyed));
}

static void test_refill_after_burst(void **state)
{
	struct fixture *f = *state;
	struct fb_vm_pool *p = make_pool(f, 4, 2);
	struct fb_vm *vms[6];
	bool from_pool[6];
	wait_ready(p, 4);
	for (int i = 0; i < 6; i++) {
		vms[i] = fb_vm_pool_take(p, &from_pool[i]);
		assert_non_null(vms[i]);
	}
	for (int i = 0; i < 4; i++)
		assert_true(from_pool[i]);
	for (int i = 0; i < 6; i++) {
		serve(vms[i]);
		fb_vm_pool_retire(p, vms[i]);
	}
	wait_ready(p, 4);
	wait_destroyed(f, 6);
	struct fb_vm_pool_stats s = stats_of(p);
	assert_int_equal(s.ready, 4);
	assert_true(s.built >= 8);
	fb_vm_pool_destroy(p);
}

/* Destroyed only once retired, after the response, never by the taker. */
static void test_destroyed_after_response(void **state)
{
	struct fixture *f = *state;
	struct fb_vm_pool *p = make_pool(f, 1, 2);
	bool from_pool;
	struct fb_vm *held = fb_vm_pool_take(p, &from_pool);
	struct fb_vm *vm = fb_vm_pool_take(p, &from_pool);
	assert_non_null(held);
	assert_non_null(vm);
	serve(vm);
	fb_vm_pool_retire(p, vm);
	wait_destroyed(f, 1);
	sleep_ms(50); /* a held VM is left alone */
	assert_int_equal(atomic_load(&f->destroyed), 1);
	serve(held);
	fb_vm_pool_retire(p, held);
	wait_destroyed(f, 2);
	fb_vm_pool_destroy(p);
	assert_int_equal(atomic_load(&f->destroyed_inline), 0);
	assert_true(atomic_load(&f->destroyed) >= 2);
	/* Only the never-used ready VM lacks the mark. */
	assert_true(atomic_load(&f->destroyed_unmarked) <= 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_served_from_pool),	T(test_miss_builds_inline),	  T(test_never_reused),
	    T(test_refill_after_burst), T(test_destroyed_after_response),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

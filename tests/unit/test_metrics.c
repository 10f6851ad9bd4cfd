/* Prometheus exposition for a known sequence of observations, scoreboard
 * counts, and the process manager's arithmetic. */
#include "fcgi/metrics.h"
#include "fcgi/pool.h"
#include "fcgi/scoreboard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char expected_fork[] =
    "# HELP forkbox_fork_time_seconds Time to create a VM from the template and restore its "
    "state.\n"
    "# TYPE forkbox_fork_time_seconds histogram\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.0005\"} 0\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.001\"} 1\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.0025\"} 1\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.005\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.01\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.025\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.05\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.1\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.25\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"0.5\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"1\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"2.5\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"5\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"10\"} 2\n"
    "forkbox_fork_time_seconds_bucket{le=\"+Inf\"} 3\n"
    "forkbox_fork_time_seconds_sum 12.005000\n"
    "forkbox_fork_time_seconds_count 3\n";

static const char expected_tail[] =
    "# HELP forkbox_requests_total HTTP requests answered, by status.\n"
    "# TYPE forkbox_requests_total counter\n"
    "forkbox_requests_total{status=\"200\"} 2\n"
    "forkbox_requests_total{status=\"400\"} 1\n"
    "forkbox_requests_total{status=\"401\"} 0\n"
    "forkbox_requests_total{status=\"404\"} 0\n"
    "forkbox_requests_total{status=\"405\"} 0\n"
    "forkbox_requests_total{status=\"413\"} 0\n"
    "forkbox_requests_total{status=\"429\"} 0\n"
    "forkbox_requests_total{status=\"500\"} 0\n"
    "forkbox_requests_total{status=\"503\"} 1\n"
    "forkbox_requests_total{status=\"other\"} 1\n"
    "# HELP forkbox_errors_total Executions the engine failed to run.\n"
    "# TYPE forkbox_errors_total counter\n"
    "forkbox_errors_total 1\n"
    "# HELP forkbox_active_vms VMs running right now.\n"
    "# TYPE forkbox_active_vms gauge\n"
    "forkbox_active_vms 4\n"
    "# HELP forkbox_pool_workers Worker processes by state.\n"
    "# TYPE forkbox_pool_workers gauge\n"
    "forkbox_pool_workers{state=\"idle\"} 2\n"
    "forkbox_pool_workers{state=\"busy\"} 3\n";

static void test_exposition(void **state)
{
	struct fb_metrics *m = fb_metrics_create();
	struct fb_pool_gauges g = {.idle = 2, .busy = 3, .active_vms = 4};
	size_t len;

	(void)state;
	assert_non_null(m);
	/* fork times 1 ms (bucket le=0.001, inclusive), 5 ms, 12 s (+Inf) */
	struct fb_exec_result a = {.fork_time_ms = 1, .exec_time_ms = 10, .total_time_ms = 11};
	struct fb_exec_result b = {.fork_time_ms = 4, .exec_time_ms = 20, .total_time_ms = 24};
	struct fb_exec_result c = {
	    .fork_time_ms = 12000, .exec_time_ms = 1, .total_time_ms = 12001};
	fb_metrics_observe_exec(m, &a);
	fb_metrics_observe_exec(m, &b);
	/* The third observation comes from another process: shared memory. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fb_metrics_observe_exec(m, &c);
		fb_metrics_count_request(m, 503);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	fb_metrics_count_request(m, 200);
	fb_metrics_count_request(m, 200);
	fb_metrics_count_request(m, 400);
	fb_metrics_count_request(m, 418);
	fb_metrics_count_error(m);
	char *text = fb_metrics_render(m, &g, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	/* The fork histogram leads, exactly. */
	assert_memory_equal(text, expected_fork, sizeof(expected_fork) - 1);
	/* exec: 10 ms + 20 ms + 1 ms */
	assert_non_null(strstr(text, "forkbox_exec_time_seconds_sum 0.031000\n"
				     "forkbox_exec_time_seconds_count 3\n"));
	assert_non_null(strstr(text, "forkbox_exec_time_seconds_bucket{le=\"0.01\"} 2\n"));
	assert_non_null(strstr(text, "forkbox_total_time_seconds_bucket{le=\"10\"} 2\n"
				     "forkbox_total_time_seconds_bucket{le=\"+Inf\"} 3\n"));
	/* Counters and gauges end it, exactly. */
	assert_true(len > sizeof(expected_tail));
	assert_string_equal(text + len - (sizeof(expected_tail) - 1), expected_tail);
	free(text);
	fb_metrics_destroy(m);
}

/* An execution's costs and the pools' counters: summed, labelled. */
static void test_costs(void **state)
{
	struct fb_metrics *m = fb_metrics_create();
	struct fb_pool_gauges g = {
	    .vm_pool_ready = 5, .vm_pool_depth = 2, .template_resident_bytes = 4096};
	struct fb_exec_stats a = {.pooled = true,
				  .guest_ms = 1.5,
				  .vmm_ms = 0.25,
				  .halted_ms = 2,
				  .pages_shared = 100,
				  .pages_copied = 7,
				  .pages_guest = 50,
				  .kvm_stats = true,
				  .ncounters = 3};
	struct fb_exec_stats b = {.pooled = false,
				  .guest_ms = 0.5,
				  .pages_copied = 3,
				  .pages_guest = -1,
				  .halted_ms = -1};
	size_t len;

	(void)state;
	assert_non_null(m);
	snprintf(a.counters[0].name, sizeof(a.counters[0].name), "exits");
	a.counters[0].value = 40;
	snprintf(a.counters[1].name, sizeof(a.counters[1].name), "io_exits");
	a.counters[1].value = 30;
	snprintf(a.counters[2].name, sizeof(a.counters[2].name), "pf_fixed");
	a.counters[2].value = 9;
	fb_metrics_observe_costs(m, &a);
	fb_metrics_observe_costs(m, &b);
	atomic_fetch_add(&m->vm_pool.destroyed, 2);
	atomic_fetch_add(&m->vm_pool.destroy_us, 1500);
	char *text = fb_metrics_render(m, &g, &len);
	assert_non_null(text);
	const char *want[] = {
	    "forkbox_executions_costed_total 2\n",
	    "forkbox_executions_kvm_counted_total 1\n",
	    "forkbox_kvm_exits_total{reason=\"all\"} 40\n",
	    "forkbox_kvm_exits_total{reason=\"io\"} 30\n",
	    "forkbox_kvm_exits_total{reason=\"mmio\"} 0\n",
	    "forkbox_guest_pages_total{kind=\"touched\"} 50\n",
	    "forkbox_guest_pages_total{kind=\"copied\"} 10\n",
	    "forkbox_guest_pages_total{kind=\"shared\"} 100\n",
	    "forkbox_vcpu_seconds_total{where=\"guest\"} 0.002000\n",
	    "forkbox_vcpu_seconds_total{where=\"halted\"} 0.002000\n",
	    "forkbox_vcpu_seconds_total{where=\"vmm\"} 0.000250\n",
	    "forkbox_vm_pool_takes_total{result=\"hit\"} 1\n",
	    "forkbox_vm_pool_takes_total{result=\"miss\"} 1\n",
	    "forkbox_vm_destroyed_total 2\n",
	    "forkbox_vm_destroy_seconds_total 0.001500\n",
	    "forkbox_vm_pool_ready 5\n",
	    "forkbox_vm_pool_depth 2\n",
	    "forkbox_template_resident_bytes 4096\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(text, want[i]))
			fail_msg("missing: %s", want[i]);
	free(text);
	fb_metrics_destroy(m);
}

static void test_scoreboard(void **state)
{
	struct fb_scoreboard *sb = fb_scoreboard_create(3);
	struct fb_worker_counts c;

	(void)state;
	assert_non_null(sb);
	assert_int_equal(fb_scoreboard_claim(sb, 100, 1), 0);
	assert_int_equal(fb_scoreboard_claim(sb, 101, 1), 1);
	assert_int_equal(fb_scoreboard_claim(sb, 102, 2), 2);
	assert_int_equal(fb_scoreboard_claim(sb, 103, 2), -1);
	atomic_store(&sb->slot[0].state, FB_SLOT_IDLE);
	atomic_store(&sb->slot[1].state, FB_SLOT_BUSY);
	atomic_store(&sb->slot[1].vms, 3);
	fb_scoreboard_count(sb, &c);
	assert_int_equal(c.total, 3);
	assert_int_equal(c.idle, 1);
	assert_int_equal(c.busy, 1);
	assert_int_equal(c.starting, 1);
	assert_int_equal(c.vms, 3);
	assert_int_equal(fb_scoreboard_find(sb, 101), 1);
	fb_scoreboard_release(sb, 1);
	assert_int_equal(fb_scoreboard_find(sb, 101), -1);
	assert_int_equal(fb_scoreboard_claim(sb, 104, 2), 1);
	assert_int_equal(atomic_load(&sb->slot[1].vms), 0);
	fb_scoreboard_destroy(sb);
}

static void test_pool_plan(void **state)
{
	struct fb_pool_config st = {.pm = FB_PM_STATIC, .max_children = 4};
	struct fb_pool_config dyn = {.pm = FB_PM_DYNAMIC,
				     .max_children = 6,
				     .start_servers = 2,
				     .min_spare_servers = 2,
				     .max_spare_servers = 3};
	struct fb_worker_counts c = {0};

	(void)state;
	assert_int_equal(fb_pool_initial(&st), 4);
	assert_int_equal(fb_pool_plan(&st, &c), 4);
	c = (struct fb_worker_counts){.total = 3, .busy = 3};
	assert_int_equal(fb_pool_plan(&st, &c), 1);
	c = (struct fb_worker_counts){.total = 4, .busy = 4};
	assert_int_equal(fb_pool_plan(&st, &c), 0);

	assert_int_equal(fb_pool_initial(&dyn), 2);
	c = (struct fb_worker_counts){0};
	assert_int_equal(fb_pool_plan(&dyn, &c), 2); /* min spare */
	c = (struct fb_worker_counts){.total = 2, .busy = 2};
	assert_int_equal(fb_pool_plan(&dyn, &c), 2);
	c = (struct fb_worker_counts){.total = 5, .busy = 5};
	assert_int_equal(fb_pool_plan(&dyn, &c), 1); /* capped by max_children */
	c = (struct fb_worker_counts){.total = 3, .busy = 2, .starting = 1, .idle = 0};
	assert_int_equal(fb_pool_plan(&dyn, &c), 1); /* starting ones count as spare */
	c = (struct fb_worker_counts){.total = 5, .idle = 5};
	assert_int_equal(fb_pool_plan(&dyn, &c), -2); /* above max spare */
	c = (struct fb_worker_counts){.total = 4, .idle = 3, .busy = 1};
	assert_int_equal(fb_pool_plan(&dyn, &c), 0);
}

static void test_backoff_and_limit(void **state)
{
	struct fb_config cfg = {0};

	(void)state;
	assert_int_equal(fb_pool_backoff_ms(0, 0xFFFFFFFFu), 0); /* first crash: at once */
	assert_int_equal(fb_pool_backoff_ms(0, 500), 100);
	assert_int_equal(fb_pool_backoff_ms(100, 500), 200);
	assert_int_equal(fb_pool_backoff_ms(6400, 500), 10000);
	assert_int_equal(fb_pool_backoff_ms(10000, 500), 10000);
	assert_int_equal(fb_pool_backoff_ms(10000, 60000), 0); /* calm again */
	cfg.pool.max_parallel_vms = 4;
	cfg.pool.queue_timeout_ms = 5000;
	cfg.limits.max_batch = 9;
	cfg.limits.max_timeout_s = 10;
	/* 3 rounds of 10 s + queue wait + 30 s margin */
	assert_int_equal(fb_pool_request_limit_ms(&cfg), 30000 + 5000 + 30000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exposition),	      cmocka_unit_test(test_costs),
	    cmocka_unit_test(test_scoreboard),	      cmocka_unit_test(test_pool_plan),
	    cmocka_unit_test(test_backoff_and_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The execution engine: one template opened and checked against this host
 * once (its memory optionally loaded into RAM), then per execution a VM
 * (from the pool or forked now), one agent request over vsock, and the VM
 * handed to teardown. See engine.h for the contract; engine_stats.c reads
 * an execution's costs. */
#include "vmm/engine.h"

#include "proto/client.h"
#include "util/clock.h"
#include "util/error.h"
#include "util/probe.h"
#include "vmm/engine_priv.h"
#include "vmm/fork.h"
#include "vmm/virtio/vsock.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define AGENT_PORT 1024
/* The agent enforces the time limit itself; the host deadline is a backstop
 * for a guest that stops answering, so it leaves room for a slow host. */
#define HOST_MARGIN_MS	     10000u
#define DEFAULT_OUTPUT_LIMIT (16u << 20)
#define MAX_TIME_LIMIT_MS    (24u * 3600u * 1000u)

static int load_memory(struct fb_engine *e, const struct fb_engine_options *opts)
{
	if (!opts->memory_in_ram)
		return 0;
	struct fb_template_ram_options ro = {.lock = opts->lock_memory,
					     .huge_pages = opts->huge_pages};
	return fb_template_ram_load(e->template, &ro, &e->ram);
}

static int open_template(struct fb_engine *e, const struct fb_engine_options *opts)
{
	if (fb_kvm_open(&e->kvm) < 0 || fb_template_open(opts->template_path, &e->template) < 0)
		return -1;
	if (fb_template_check_host(e->template, e->kvm.fd) < 0)
		return fb_error_prefix("template %s", opts->template_path);
	if (load_memory(e, opts) < 0)
		return fb_error_prefix("template %s", opts->template_path);
	e->wset.bits = fb_template_wset(e->template);
	e->wset.copy_bits = e->wset.bits ? fb_template_wcopy(e->template) : NULL;
	e->wset.pages = fb_template_mem_size(e->template) / 4096;
	e->wset_read_pages = fb_working_set_count(&e->wset);
	e->wset_copy_pages = fb_working_set_count_copy(&e->wset);
	e->prefetch = opts->prefetch && e->wset.bits;
	e->kvm_stats = fb_kvm_stats_supported(e->kvm.fd);
	return 0;
}

struct fb_engine *fb_engine_open(const struct fb_engine_options *opts)
{
	struct fb_engine *e = calloc(1, sizeof(*e));

	if (!e) {
		fb_error("engine: out of memory");
		return NULL;
	}
	e->default_output_limit =
	    opts->default_output_limit ? opts->default_output_limit : DEFAULT_OUTPUT_LIMIT;
	e->serial_log_fd = opts->serial_log_fd;
	e->kvm.fd = -1;
	e->record_uffd = -1;
	atomic_init(&e->prefetch_method, FB_PREFETCH_UNKNOWN);
	/* Refuse up front, with the reason and the way out, rather than fail
	 * on every request on a host whose KVM cannot run the guest kernel. */
	struct fb_kvm_report report;
	if (fb_probe_kvm(&report) != FB_KVM_NATIVE) {
		fb_error("this host cannot run the guest kernel: %s; %s", report.reason,
			 report.fallback);
		fb_engine_close(e);
		return NULL;
	}
	if (open_template(e, opts) < 0) {
		fb_engine_close(e);
		return NULL;
	}
	return e;
}

void fb_engine_close(struct fb_engine *engine)
{
	if (!engine)
		return;
	fb_engine_pool_stop(engine);
	fb_engine_record_end(engine);
	fb_template_ram_close(engine->ram);
	if (engine->template)
		fb_template_close(engine->template);
	fb_kvm_close(&engine->kvm);
	free(engine);
}

/* The pool's build function: a fork with its working set mapped, device
 * I/O and a parked vCPU thread started. */
static struct fb_vm *build_vm(void *ctx)
{
	struct fb_engine *e = ctx;
	struct fb_fork_options fo = {.ram = e->ram, .serial_fd = e->serial_log_fd};
	struct fb_vm *vm = fb_fork_create(&e->kvm, e->template, &fo);

	if (!vm)
		return NULL;
	if (e->recording)
		fb_engine_record_begin(e, vm);
	if ((e->prefetch && fb_working_set_prefetch(vm, &e->wset, &e->prefetch_method) < 0) ||
	    fb_vm_prepare(vm) < 0) {
		fb_vm_destroy(vm);
		return NULL;
	}
	return vm;
}

int fb_engine_pool_start(struct fb_engine *engine, const struct fb_engine_pool_options *opts)
{
	if (engine->pool || !opts->depth)
		return 0;
	struct fb_vm_pool_options po = {.depth = opts->depth, .threads = opts->threads};
	struct fb_vm_pool_ops ops = {.build = build_vm, .ctx = engine};
	engine->pool = fb_vm_pool_create(&po, &ops);
	return engine->pool ? 0 : -1;
}

void fb_engine_pool_stop(struct fb_engine *engine)
{
	fb_vm_pool_destroy(engine->pool);
	engine->pool = NULL;
}

bool fb_engine_pool_counts(struct fb_engine *engine, struct fb_engine_pool_counts *c)
{
	if (!engine->pool)
		return false;
	struct fb_vm_pool_stats ps;
	fb_vm_pool_get_stats(engine->pool, &ps);
	*c = (struct fb_engine_pool_counts){.depth = ps.depth,
					    .threads = ps.threads,
					    .ready = ps.ready,
					    .hits = ps.hits,
					    .misses = ps.misses,
					    .built = ps.built,
					    .build_failures = ps.build_failures,
					    .destroyed = ps.destroyed,
					    .destroy_ms_total = ps.destroy_ms_total};
	return true;
}

void fb_engine_info(struct fb_engine *engine, struct fb_engine_info *info)
{
	*info = (struct fb_engine_info){0};
	info->template_path = fb_template_path(engine->template);
	info->runtime = fb_template_runtime(engine->template);
	const char *v = fb_template_meta(engine->template, "generation");
	info->generation = v ? (unsigned)strtoul(v, NULL, 10) : 0;
	v = fb_template_meta(engine->template, "created_unix");
	info->created_unix = v ? strtoll(v, NULL, 10) : 0;
	info->guest_memory_bytes = fb_template_mem_size(engine->template);
	info->ready = true;
	if (engine->ram) {
		struct fb_template_ram_info ri;
		fb_template_ram_info(engine->ram, &ri);
		info->memory_in_ram = true;
		info->resident_bytes = ri.resident_bytes;
		info->huge_bytes = ri.huge_bytes;
		info->locked = ri.locked;
	}
	info->working_set_pages = engine->wset_read_pages;
	info->working_set_copy_pages = engine->wset_copy_pages;
	info->prefetch = engine->prefetch;
	info->prefetch_method = fb_prefetch_method_name(atomic_load(&engine->prefetch_method));
	info->pool = fb_engine_pool_counts(engine, &info->pool_counts);
}

/* A random (version 4) UUID; ids only need to be unique, not secret. */
static void make_id(char out[40])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x =
		    (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 48);
		for (size_t i = 0; i < sizeof(b); i++, x = x * 6364136223846793005u + 1)
			b[i] = (unsigned char)(x >> 56);
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static uint32_t time_limit_ms(double timeout_s)
{
	if (!(timeout_s > 0))
		return 30000;
	if (timeout_s * 1000.0 >= (double)MAX_TIME_LIMIT_MS)
		return MAX_TIME_LIMIT_MS;
	uint32_t ms = (uint32_t)(timeout_s * 1000.0);
	return ms ? ms : 1;
}

/* Adapts the proto layer's output callback to the engine's. */
struct output_relay {
	const struct fb_exec_callbacks *cb;
};

static int relay_output(void *ctx, int stream, const void *data, size_t len)
{
	struct output_relay *r = ctx;

	if (!r->cb || !r->cb->on_output)
		return 0;
	enum fb_stream s = stream == 2 ? FB_STREAM_STDERR : FB_STREAM_STDOUT;
	return r->cb->on_output(r->cb->ctx, s, data, len);
}

static bool relay_cancelled(void *ctx)
{
	struct output_relay *r = ctx;

	return r->cb && r->cb->cancelled && r->cb->cancelled(r->cb->ctx);
}

static void fill_result(struct fb_exec_result *res, const struct fb_agent_outcome *out)
{
	res->exit_code = out->exit_code;
	res->term_signal = out->term_signal;
	res->timed_out = out->timed_out;
	res->truncated = out->truncated;
}

/* Send the request to the agent of a running fork and wait for its exit. */
static int run_in_vm(struct fb_engine *e, struct fb_vm *vm, const struct fb_exec_request *req,
		     const struct fb_exec_callbacks *cb, struct fb_exec_result *res)
{
	int fd = fb_vsock_connect(vm->vsock, AGENT_PORT);

	if (fd < 0)
		return fb_error_prefix("connect to the guest agent");
	uint32_t limit = time_limit_ms(req->timeout_s);
	struct fb_agent_request ar = {
	    .code = req->code,
	    .code_len = req->code_len,
	    /* The guest checks it is the runtime it serves. */
	    .language = fb_template_runtime(e->template),
	    .time_limit_ms = limit,
	    .host_timeout_ms = limit + HOST_MARGIN_MS,
	    .output_limit = req->output_limit ? req->output_limit : e->default_output_limit,
	};
	struct output_relay relay = {.cb = cb};
	struct fb_agent_handlers h = {
	    .on_output = relay_output, .cancelled = relay_cancelled, .ctx = &relay};
	struct fb_agent_outcome out;
	memset(&out, 0, sizeof(out));
	int rc = fb_agent_run(fd, &ar, &h, &out);
	close(fd);
	if (rc < 0) {
		const char *vcpu = fb_vm_error(vm);
		char why[FB_ERROR_MAX];
		if (vm->vsock && fb_vsock_failed(vm->vsock, why, sizeof(why)))
			fb_error_prefix("guest broke the vsock device (%s)", why);
		if (vcpu && *vcpu)
			fb_error_prefix("guest (vCPU: %s)", vcpu);
		return -1;
	}
	fill_result(res, &out);
	return 0;
}

/* A VM to run: ready from the pool (its time set again: it may have
 * waited), else forked now. */
static struct fb_vm *take_vm(struct fb_engine *e, bool *pooled)
{
	*pooled = false;
	if (!e->pool)
		return build_vm(e);
	struct fb_vm *vm = fb_vm_pool_take(e->pool, pooled);
	if (vm && *pooled && fb_fork_restore_time(vm, e->template) < 0) {
		fb_vm_pool_retire(e->pool, vm);
		return NULL;
	}
	return vm;
}

/* Lets the VM go: to a pool thread, or destroyed here (timed). */
double fb_engine_release_vm(struct fb_engine *e, struct fb_vm *vm)
{
	if (e->pool) {
		fb_vm_pool_retire(e->pool, vm);
		return -1;
	}
	double t0 = fb_clock_ms();
	fb_vm_destroy(vm);
	return fb_clock_ms() - t0;
}

static int check_language(const struct fb_engine *e, const struct fb_exec_request *req)
{
	const char *runtime = fb_template_runtime(e->template);
	if (req->language && *req->language && strcmp(req->language, runtime) != 0 &&
	    !(strcmp(runtime, "python") == 0 && strcmp(req->language, "python3") == 0))
		return fb_error("unsupported language '%s' (this template runs %s)", req->language,
				runtime);
	return 0;
}

int fb_engine_exec(struct fb_engine *engine, const struct fb_exec_request *req,
		   const struct fb_exec_callbacks *cb, struct fb_exec_result *result,
		   struct fb_execution **held)
{
	memset(result, 0, sizeof(*result));
	make_id(result->id);
	if (held)
		*held = NULL;
	struct fb_execution *x = calloc(1, sizeof(*x));
	if (!x)
		return fb_error("engine: out of memory");
	if (check_language(engine, req) < 0)
		goto fail;
	double t0 = fb_clock_ms();
	x->vm = take_vm(engine, &x->pooled);
	if (!x->vm || fb_vm_start(x->vm) < 0)
		goto fail;
	double t1 = fb_clock_ms();
	result->fork_time_ms = t1 - t0;
	int rc = run_in_vm(engine, x->vm, req, cb, result);
	double t2 = fb_clock_ms();
	result->exec_time_ms = t2 - t1;
	/* Teardown is not on the caller's clock: the result is complete here. */
	result->total_time_ms = t2 - t0;
	x->spawn_ms = result->fork_time_ms;
	x->exec_ms = result->exec_time_ms;
	if (rc < 0)
		goto fail;
	if (held)
		*held = x;
	else
		fb_engine_finish(engine, x, NULL);
	return 0;
fail:
	if (x->vm)
		fb_engine_release_vm(engine, x->vm);
	free(x);
	return -1;
}

void fb_engine_finish(struct fb_engine *engine, struct fb_execution *exec,
		      struct fb_exec_stats *stats)
{
	if (!exec)
		return;
	if (stats)
		fb_engine_read_stats(engine, exec, stats);
	double teardown = fb_engine_release_vm(engine, exec->vm);
	if (stats)
		stats->teardown_ms = teardown;
	free(exec);
}

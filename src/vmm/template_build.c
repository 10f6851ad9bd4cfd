/* boot -> agent ready -> settle -> pause -> capture -> write. */
#include "vmm/template_build.h"

#include "config.h"

#include "util/error.h"
#include "vmm/boot_image.h"
#include "vmm/engine.h"
#include "vmm/snapshot/template_file.h"
#include "vmm/virtio/vsock.h"
#include "vmm/vm.h"
#include "vmm/vm_vsock.h"
#include "vmm/working_set.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SETTLE_QUIET_MS	  200 /* no exits for this long = the guest is idle */
#define SETTLE_MAX_MS	  5000
#define POLL_MS		  50
#define SERIAL_BLOB_MAX	  64
#define FB_BUILD_META_MAX 24

#define CONSOLE_TAIL_LINES 6
#define CONSOLE_LINE_MAX   160

struct build_ctx {
	const struct fb_template_build_options *opts;
	struct fb_vm *vm;
	struct timespec start;
	atomic_bool ready;
	double ready_s;
	/* The guest console's last lines, for the message when it fails. */
	char tail[CONSOLE_TAIL_LINES][CONSOLE_LINE_MAX];
	atomic_uint lines;
};

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(const struct build_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void progress(const struct build_ctx *c, const char *fmt, ...)
{
	if (!c->opts->progress)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(c->opts->progress, fmt, ap);
	va_end(ap);
	fputc('\n', c->opts->progress);
	fflush(c->opts->progress);
}

/* Runs on the vCPU thread: only notes the time and raises a flag. */
static void watch_line(void *opaque, const char *line, size_t len)
{
	struct build_ctx *c = opaque;
	unsigned n = atomic_load(&c->lines);
	snprintf(c->tail[n % CONSOLE_TAIL_LINES], CONSOLE_LINE_MAX, "%.*s",
		 (int)strcspn(line, "\r\n"), line);
	atomic_store(&c->lines, n + 1);
	(void)len;
	if (!atomic_load(&c->ready) && strstr(line, FB_AGENT_READY_LINE)) {
		c->ready_s = seconds_since(&c->start);
		atomic_store(&c->ready, true);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Adds the console's last lines to the current error message. */
static int with_console_tail(struct build_ctx *c)
{
	unsigned n = atomic_load(&c->lines);
	if (n == 0)
		return fb_error_prefix("(the guest printed nothing)");
	char tail[CONSOLE_TAIL_LINES * (CONSOLE_LINE_MAX + 3)] = "";
	unsigned first = n > CONSOLE_TAIL_LINES ? n - CONSOLE_TAIL_LINES : 0;
	for (unsigned i = first; i < n; i++)
		snprintf(tail + strlen(tail), sizeof(tail) - strlen(tail), "%s%s",
			 i > first ? " | " : "", c->tail[i % CONSOLE_TAIL_LINES]);
	char msg[FB_ERROR_MAX];
	snprintf(msg, sizeof(msg), "%s", fb_error_last());
	return fb_error("%s; last console lines: %s", msg, tail);
}

/* Polls until the agent is ready; fails if the guest stops or time runs out. */
static int wait_ready(struct build_ctx *c)
{
	int limit_ms = (int)(c->opts->ready_timeout_s * 1000);
	for (int waited = 0; !atomic_load(&c->ready); waited += POLL_MS) {
		enum fb_vm_status st = fb_vm_wait(c->vm, POLL_MS);
		if (st != FB_VM_NOT_RUN) {
			fb_error("guest %s before the agent was ready: %s", fb_vm_status_name(st),
				 fb_vm_error(c->vm));
			return with_console_tail(c);
		}
		if (waited >= limit_ms) {
			fb_error("guest agent not ready after %.0f s (no '%s' on the console)",
				 c->opts->ready_timeout_s, FB_AGENT_READY_LINE);
			return with_console_tail(c);
		}
	}
	progress(c, "guest agent ready after %.1f s", c->ready_s);
	return 0;
}

/* Waits until the vCPU has made no user-space exits for SETTLE_QUIET_MS. */
static void settle(struct build_ctx *c)
{
	progress(c, "settling");
	uint64_t last = fb_vm_exit_count(c->vm);
	int quiet = 0;
	for (int waited = 0; quiet < SETTLE_QUIET_MS && waited < SETTLE_MAX_MS; waited += POLL_MS) {
		sleep_ms(POLL_MS);
		uint64_t now = fb_vm_exit_count(c->vm);
		quiet = now == last ? quiet + POLL_MS : 0;
		last = now;
	}
}

static uint64_t nonzero_pages(const uint8_t *mem, uint64_t size)
{
	static const uint8_t zero[4096];
	uint64_t n = 0;
	for (uint64_t off = 0; off + 4096 <= size; off += 4096)
		if (memcmp(mem + off, zero, 4096) != 0)
			n++;
	return n;
}

struct captured {
	struct fb_vcpu_caps caps;
	struct fb_vcpu_state vcpu;
	struct fb_vm_state vmst;
	uint8_t serial[SERIAL_BLOB_MAX];
	size_t serial_len;
	void *vsock;
	size_t vsock_len;
};

static int capture(struct build_ctx *c, struct captured *cap)
{
	struct fb_vm *vm = c->vm;
	enum fb_vm_status st = fb_vm_pause(vm);
	if (st != FB_VM_STOPPED)
		return fb_error("pause guest: %s: %s", fb_vm_status_name(st), fb_vm_error(vm));
	if (fb_vsock_connection_count(vm->vsock) != 0)
		return fb_error("vsock connections are open at snapshot time");
	if (fb_vcpu_caps_probe(vm->kvm->fd, &cap->caps) < 0 ||
	    fb_vcpu_state_save(vm->vcpu_fd, &cap->caps, 1, &cap->vcpu) < 0)
		return fb_error_prefix("save vCPU");
	if (fb_vm_state_save(vm->vm_fd, FB_VM_HAS_IRQCHIP | FB_VM_HAS_PIT, &cap->vmst) < 0)
		return fb_error_prefix("save VM devices");
	cap->serial_len = fb_serial_save(&vm->serial, cap->serial, sizeof(cap->serial));
	if (fb_vsock_save(vm->vsock, &cap->vsock, &cap->vsock_len) < 0)
		return fb_error_prefix("save vsock");
	return 0;
}

static int write_template(struct build_ctx *c, struct captured *cap, const uint8_t *wset,
			  const uint8_t *wcopy)
{
	struct fb_vm *vm = c->vm;
	const struct fb_template_blob devices[] = {
	    {.name = "serial", .data = cap->serial, .size = cap->serial_len},
	    {.name = "vsock", .data = cap->vsock, .size = cap->vsock_len},
	};
	struct fb_template_kv meta[2 + FB_BUILD_META_MAX] = {
	    {.key = FB_META_CMDLINE, .value = vm->cmdline},
	    {.key = FB_META_VERSION, .value = PACKAGE_VERSION},
	};
	unsigned nr_meta = 2;
	for (unsigned i = 0; i < c->opts->nr_meta && i < FB_BUILD_META_MAX; i++)
		meta[nr_meta++] = c->opts->meta[i];
	struct fb_template_parts parts = {.cpuid = vm->cpuid,
					  .vcpus = &cap->vcpu,
					  .nr_vcpus = 1,
					  .vm = &cap->vmst,
					  .devices = devices,
					  .nr_devices = 2,
					  .meta = meta,
					  .nr_meta = nr_meta,
					  .mem = vm->mem.host,
					  .mem_size = vm->mem.size,
					  .wset = wset,
					  .wcopy = wcopy};
	progress(c, "saving %llu MiB memory (%llu MiB non-zero)",
		 (unsigned long long)(vm->mem.size >> 20),
		 (unsigned long long)(nonzero_pages(vm->mem.host, vm->mem.size) * 4096 >> 20));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (fb_template_write(c->opts->output, &parts, NULL, NULL) < 0)
		return fb_error_prefix("write %s", c->opts->output);
	struct stat stbuf;
	if (stat(c->opts->output, &stbuf) < 0)
		return fb_error_errno("stat %s", c->opts->output);
	progress(c, "wrote %s (%llu MB on disk, %llu MB apparent) in %.1f s", c->opts->output,
		 (unsigned long long)(stbuf.st_blocks * 512 / 1000000),
		 (unsigned long long)(stbuf.st_size / 1000000), seconds_since(&t0));
	return 0;
}

static int boot_vm(struct build_ctx *c, const struct fb_kvm *kvm, struct fb_boot_files *files)
{
	struct fb_vm_options vo = {.mem_size = c->opts->mem_size,
				   .serial_fd = c->opts->console_fd,
				   .line_fn = watch_line,
				   .line_opaque = c};
	c->vm = fb_vm_create(kvm, &vo);
	if (!c->vm)
		return -1;
	snprintf(c->vm->cmdline, sizeof(c->vm->cmdline), "%s", files->cmdline);
	if (fb_vm_load_kernel(c->vm, &files->img) < 0 || fb_vm_attach_vsock(c->vm) < 0)
		return -1;
	progress(c, "booting kernel %s (%llu MiB RAM)", c->opts->kernel,
		 (unsigned long long)(c->opts->mem_size >> 20));
	clock_gettime(CLOCK_MONOTONIC, &c->start);
	return fb_vm_start(c->vm);
}

/* Forks of the template just written run the typical requests; the pages
 * they read go into *wset, those they wrote into *wcopy (both malloc'd). */
static int record_working_set(struct build_ctx *c, uint8_t **wset, uint8_t **wcopy)
{
	const struct fb_template_build_options *o = c->opts;
	progress(c, "recording the working set (%zu typical requests)", o->n_working_set_codes);
	struct fb_engine_options eo = {
	    .template_path = o->output, .serial_log_fd = -1, .memory_in_ram = true};
	struct fb_engine *e = fb_engine_open(&eo);
	*wset = calloc(1, (size_t)(o->mem_size / 4096 + 7) / 8);
	*wcopy = calloc(1, (size_t)(o->mem_size / 4096 + 7) / 8);
	int rc = -1;
	char note[160] = "";
	if (e && *wset && *wcopy)
		rc = fb_engine_record_working_set(e, o->working_set_codes, o->n_working_set_codes,
						  *wset, *wcopy, note, sizeof(note));
	else if (e)
		fb_error("out of memory");
	fb_engine_close(e);
	if (rc == 0 && note[0])
		progress(c,
			 "working set: host fault-around left on (%s): read pages include "
			 "their neighbours",
			 note);
	if (rc == 0) {
		struct fb_working_set ws = {*wset, *wcopy, o->mem_size / 4096};
		uint64_t n = fb_working_set_count(&ws), w = fb_working_set_count_copy(&ws);
		progress(c, "working set: %llu pages read (%llu KiB), %llu written (%llu KiB)",
			 (unsigned long long)n, (unsigned long long)n * 4, (unsigned long long)w,
			 (unsigned long long)w * 4);
	}
	return rc;
}

/* The snapshot, then (if asked) the same with its working set. */
static int save(struct build_ctx *c, struct captured *cap)
{
	if (write_template(c, cap, NULL, NULL) < 0)
		return -1;
	if (!c->opts->n_working_set_codes)
		return 0;
	uint8_t *wset = NULL, *wcopy = NULL;
	int rc = record_working_set(c, &wset, &wcopy);
	if (rc == 0)
		rc = write_template(c, cap, wset, wcopy);
	free(wset);
	free(wcopy);
	return rc;
}

int fb_template_build(const struct fb_kvm *kvm, const struct fb_template_build_options *opts)
{
	struct build_ctx c = {.opts = opts};
	atomic_init(&c.ready, false);
	atomic_init(&c.lines, 0);
	struct fb_boot_files files;
	struct captured *cap = calloc(1, sizeof(*cap));
	if (!cap)
		return fb_error("template build: out of memory");
	int rc = -1;
	int opened = opts->n_parts
			 ? fb_boot_files_open_parts(&files, opts->kernel, opts->parts,
						    opts->n_parts, opts->extra, opts->extra_len,
						    opts->cmdline, FB_BOOT_VSOCK_CMDLINE)
			 : fb_boot_files_open(&files, opts->kernel, opts->initramfs, opts->cmdline,
					      FB_BOOT_VSOCK_CMDLINE);
	if (opened < 0)
		goto out_cap;
	if (boot_vm(&c, kvm, &files) == 0 && wait_ready(&c) == 0) {
		settle(&c);
		if (capture(&c, cap) == 0 && save(&c, cap) == 0)
			rc = 0;
	}
	fb_vm_destroy(c.vm);
	fb_boot_files_close(&files);
out_cap:
	free(cap->vsock);
	free(cap);
	return rc;
}

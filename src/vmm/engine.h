/* The execution engine: one template held in memory, a fresh CoW-forked VM
 * per execution. This is the API the CLI (`forkbox run`) and the FastCGI
 * workers use; everything below it (KVM, devices, snapshot, agent protocol)
 * stays inside src/vmm and src/proto.
 *
 * Thread safety: one fb_engine may be used by many threads at once; every
 * fb_engine_exec() call gets its own VM. After fork(), a child process may
 * keep using an engine opened by its parent (the template mapping is shared,
 * read-only). */
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

struct fb_exec_result {
	char id[40];	     /* unique execution id (UUID text) */
	int exit_code;	     /* exit status; 128+N after death by signal N */
	int term_signal;     /* signal that killed the guest process, 0 if none */
	bool timed_out;	     /* killed at timeout_s */
	bool truncated;	     /* output beyond output_limit was dropped */
	double fork_time_ms; /* VM creation + state restore */
	double exec_time_ms; /* request sent to exit received */
	double total_time_ms;
};

struct fb_engine_options {
	const char *template_path;
	size_t default_output_limit;
	int serial_log_fd; /* guest console of each fork goes here; -1 drops it */
};

/* Open a template file and map it. Returns NULL with fb_error_last() set. */
struct fb_engine *fb_engine_open(const struct fb_engine_options *opts);
void fb_engine_close(struct fb_engine *engine);

/* Fork a VM from the template, run the request, stream output, fill result.
 * Returns 0 when the execution ran (whatever its exit code), -1 on an engine
 * failure (message in fb_error_last()). */
int fb_engine_exec(struct fb_engine *engine, const struct fb_exec_request *req,
		   const struct fb_exec_callbacks *cb, struct fb_exec_result *result);

/* Facts for /v1/health and /v1/metrics. */
struct fb_engine_info {
	const char *template_path;
	uint64_t guest_memory_bytes;
	bool ready;
};
void fb_engine_info(const struct fb_engine *engine, struct fb_engine_info *info);

#endif

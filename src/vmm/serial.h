/* A 16550A UART at 0x3f8 (COM1, IRQ 4): the guest console.
 *
 * Transmitted bytes go to a sink fd (or nowhere) and, split into lines, to an
 * optional line-tap callback (the template builder watches for the agent's
 * readiness line). Input is not supported: the receiver is always empty. */
#ifndef FORKBOX_VMM_SERIAL_H
#define FORKBOX_VMM_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_SERIAL_PORT_BASE  0x3f8
#define FB_SERIAL_PORT_COUNT 8
#define FB_SERIAL_IRQ	     4
#define FB_SERIAL_LINE_MAX   512

/* The console of a forked VM runs untrusted code's kernel and lands in the
 * host's log: it is capped per VM, and all limited consoles of a process
 * share a token bucket, so no guest can fill the host's disk. */
#define FB_SERIAL_SINK_MAX_PER_VM (64u * 1024)
#define FB_SERIAL_SINK_RATE	  (16u * 1024) /* bytes per second, per process */
#define FB_SERIAL_SINK_BURST	  (64u * 1024)

struct fb_serial_bucket {
	pthread_mutex_t lock;
	uint64_t rate, burst; /* bytes per second, most bytes at once */
	uint64_t tokens;
	int64_t last_ns; /* CLOCK_MONOTONIC of the last refill */
};

/* Called with one line of output (no trailing newline/CR, NUL-terminated). */
typedef void (*fb_serial_line_fn)(void *opaque, const char *line, size_t len);
/* Sets the UART's interrupt line level (0 or 1); returns -1 on failure. */
typedef int (*fb_serial_irq_fn)(void *opaque, int level);

/* The guest-visible register state, saved into snapshots as is. */
struct fb_serial_regs {
	uint8_t ier, iir_thri, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
};

struct fb_serial {
	struct fb_serial_regs regs;
	int irq_level; /* level last given to irq_fn */
	int sink_fd;   /* -1: output dropped */
	fb_serial_line_fn line_fn;
	void *line_opaque;
	fb_serial_irq_fn irq_fn;
	void *irq_opaque;
	char line[FB_SERIAL_LINE_MAX];
	size_t line_len;
	/* Sink limits (fb_serial_limit_sink); sink_max 0 = none. */
	size_t sink_max, sink_written;
	struct fb_serial_bucket *bucket;
	bool sink_capped, sink_throttled; /* the notice for each was written */
};

void fb_serial_init(struct fb_serial *s, int sink_fd, fb_serial_irq_fn irq_fn, void *irq_opaque);
void fb_serial_set_line_tap(struct fb_serial *s, fb_serial_line_fn fn, void *opaque);

/* Limit what reaches the sink: at most max_bytes for this UART, and only
 * what bucket (NULL: none) lets through. Bytes past a limit are dropped,
 * after one notice line per limit on the sink. The line tap sees all. */
void fb_serial_limit_sink(struct fb_serial *s, size_t max_bytes, struct fb_serial_bucket *bucket);
void fb_serial_bucket_init(struct fb_serial_bucket *b, uint64_t rate, uint64_t burst);
/* The process-wide bucket of forked VMs' consoles (FB_SERIAL_SINK_RATE). */
struct fb_serial_bucket *fb_serial_fork_bucket(void);

/* Port I/O at offset 0..7 from the base. Return -1 only if raising the
 * interrupt failed (message in fb_error_last()). */
int fb_serial_read(struct fb_serial *s, unsigned offset, uint8_t *value);
int fb_serial_write(struct fb_serial *s, unsigned offset, uint8_t value);

/* Snapshot blob: the register state, fixed size. */
size_t fb_serial_save(const struct fb_serial *s, void *buf, size_t cap);
int fb_serial_restore(struct fb_serial *s, const void *buf, size_t len);

#endif

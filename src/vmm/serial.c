/* 16550A register semantics, as Linux's 8250 driver probes and drives them. */
#include "vmm/serial.h"

#include "util/clock.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
	REG_DATA = 0, /* RBR/THR, or DLL with LCR.DLAB */
	REG_IER = 1,  /* or DLM with LCR.DLAB */
	REG_IIR = 2,  /* read: IIR, write: FCR */
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define LCR_DLAB	0x80
#define IER_THRI	0x02
#define IER_MASK	0x0f
#define IIR_NONE	0x01
#define IIR_THRI	0x02
#define IIR_FIFO	0xc0
#define FCR_FIFO_ENABLE 0x01
#define LSR_THRE	0x20
#define LSR_TEMT	0x40
#define MCR_LOOP	0x10
#define MCR_MASK	0x1f
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80

static int update_irq(struct fb_serial *s)
{
	int level = (s->regs.ier & IER_THRI) && s->regs.iir_thri;
	if (level == s->irq_level || !s->irq_fn)
		return 0;
	s->irq_level = level;
	return s->irq_fn(s->irq_opaque, level);
}

void fb_serial_init(struct fb_serial *s, int sink_fd, fb_serial_irq_fn irq_fn, void *irq_opaque)
{
	memset(s, 0, sizeof(*s));
	s->regs.lsr = LSR_THRE | LSR_TEMT;
	s->regs.msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->regs.dll = 0x0c; /* 9600 baud, as after a BIOS reset */
	s->sink_fd = sink_fd;
	s->irq_fn = irq_fn;
	s->irq_opaque = irq_opaque;
}

void fb_serial_set_line_tap(struct fb_serial *s, fb_serial_line_fn fn, void *opaque)
{
	s->line_fn = fn;
	s->line_opaque = opaque;
}

static void emit_line(struct fb_serial *s)
{
	size_t len = s->line_len;
	while (len > 0 && s->line[len - 1] == '\r')
		len--;
	s->line[len] = '\0';
	if (s->line_fn)
		s->line_fn(s->line_opaque, s->line, len);
	s->line_len = 0;
}

void fb_serial_bucket_init(struct fb_serial_bucket *b, uint64_t rate, uint64_t burst)
{
	pthread_mutex_init(&b->lock, NULL);
	b->rate = rate;
	b->burst = burst;
	b->tokens = burst;
	b->last_ns = fb_clock_ns();
}

struct fb_serial_bucket *fb_serial_fork_bucket(void)
{
	static struct fb_serial_bucket bucket = {
	    .lock = PTHREAD_MUTEX_INITIALIZER,
	    .rate = FB_SERIAL_SINK_RATE,
	    .burst = FB_SERIAL_SINK_BURST,
	    .tokens = FB_SERIAL_SINK_BURST,
	};
	return &bucket;
}

void fb_serial_limit_sink(struct fb_serial *s, size_t max_bytes, struct fb_serial_bucket *bucket)
{
	s->sink_max = max_bytes;
	s->sink_written = 0;
	s->bucket = bucket;
	s->sink_capped = s->sink_throttled = false;
}

/* Refill by the time elapsed (whole bytes only), then take one token. */
static bool bucket_take(struct fb_serial_bucket *b)
{
	bool ok;

	pthread_mutex_lock(&b->lock);
	int64_t now = fb_clock_ns();
	if (b->last_ns == 0 || now < b->last_ns)
		b->last_ns = now;
	uint64_t elapsed = (uint64_t)(now - b->last_ns);
	if (b->rate && elapsed >= 1000000000u * b->burst / b->rate) {
		b->tokens = b->burst;
		b->last_ns = now;
	} else if (b->rate) {
		uint64_t earned = elapsed * b->rate / 1000000000u;
		b->tokens = b->tokens + earned > b->burst ? b->burst : b->tokens + earned;
		b->last_ns += (int64_t)(earned * 1000000000u / b->rate);
	}
	ok = b->tokens > 0;
	if (ok)
		b->tokens--;
	pthread_mutex_unlock(&b->lock);
	return ok;
}

static void sink_write(int fd, const void *data, size_t len)
{
	ssize_t n;
	do
		n = write(fd, data, len);
	while (n < 0 && errno == EINTR);
	/* A full or closed sink must not stop the guest: the bytes are dropped. */
}

/* Whether the byte may go to the sink; writes each limit's notice once. */
static bool sink_allows(struct fb_serial *s)
{
	char note[160];
	int n = 0;

	if (!s->sink_max)
		return true;
	if (s->sink_written >= s->sink_max) {
		if (!s->sink_capped)
			n = snprintf(note, sizeof(note),
				     "\n[forkbox: guest console cut here: over %zu bytes for this "
				     "VM]\n",
				     s->sink_max);
		s->sink_capped = true;
	} else if (s->bucket && !bucket_take(s->bucket)) {
		if (!s->sink_throttled)
			n = snprintf(note, sizeof(note),
				     "\n[forkbox: guest console dropped: over %llu bytes/s from "
				     "this process's VMs]\n",
				     (unsigned long long)s->bucket->rate);
		s->sink_throttled = true;
	} else {
		s->sink_written++;
		return true;
	}
	if (n > 0)
		sink_write(s->sink_fd, note, (size_t)n);
	return false;
}

static void sink_byte(struct fb_serial *s, uint8_t byte)
{
	if (s->sink_fd >= 0 && sink_allows(s))
		sink_write(s->sink_fd, &byte, 1);
	if (byte == '\n') {
		emit_line(s);
		return;
	}
	if (s->line_len < FB_SERIAL_LINE_MAX - 1)
		s->line[s->line_len++] = (char)byte;
	else
		emit_line(s); /* an overlong line is delivered in pieces */
}

/* The byte leaves at once, so THR is empty again right after the write.
 * The interrupt line drops and rises again, giving an edge-triggered
 * IOAPIC pin a fresh edge for every byte. */
static int transmit(struct fb_serial *s, uint8_t byte)
{
	s->regs.iir_thri = 0;
	if (update_irq(s) < 0)
		return -1;
	if (!(s->regs.mcr & MCR_LOOP))
		sink_byte(s, byte);
	s->regs.iir_thri = 1;
	return update_irq(s);
}

static uint8_t read_iir(struct fb_serial *s)
{
	uint8_t fifo = (s->regs.fcr & FCR_FIFO_ENABLE) ? IIR_FIFO : 0;
	if ((s->regs.ier & IER_THRI) && s->regs.iir_thri) {
		s->regs.iir_thri = 0; /* reading IIR acknowledges THRE */
		return fifo | IIR_THRI;
	}
	return fifo | IIR_NONE;
}

/* In loopback mode the modem inputs mirror the modem outputs (the 8250
 * driver's detection test relies on it). */
static uint8_t read_msr(const struct fb_serial *s)
{
	if (!(s->regs.mcr & MCR_LOOP))
		return s->regs.msr;
	uint8_t mcr = s->regs.mcr;
	return (uint8_t)(((mcr & 0x02) ? MSR_CTS : 0) | ((mcr & 0x01) ? MSR_DSR : 0) |
			 ((mcr & 0x04) ? MSR_RI : 0) | ((mcr & 0x08) ? MSR_DCD : 0));
}

int fb_serial_read(struct fb_serial *s, unsigned offset, uint8_t *value)
{
	int dlab = s->regs.lcr & LCR_DLAB;
	switch (offset) {
	case REG_DATA:
		*value = dlab ? s->regs.dll : 0;
		break;
	case REG_IER:
		*value = dlab ? s->regs.dlm : s->regs.ier;
		break;
	case REG_IIR:
		*value = read_iir(s);
		return update_irq(s);
	case REG_LCR:
		*value = s->regs.lcr;
		break;
	case REG_MCR:
		*value = s->regs.mcr;
		break;
	case REG_LSR:
		*value = s->regs.lsr;
		break;
	case REG_MSR:
		*value = read_msr(s);
		break;
	case REG_SCR:
		*value = s->regs.scr;
		break;
	default:
		*value = 0xff;
	}
	return 0;
}

int fb_serial_write(struct fb_serial *s, unsigned offset, uint8_t value)
{
	int dlab = s->regs.lcr & LCR_DLAB;
	switch (offset) {
	case REG_DATA:
		if (dlab) {
			s->regs.dll = value;
			return 0;
		}
		return transmit(s, value);
	case REG_IER:
		if (dlab) {
			s->regs.dlm = value;
			return 0;
		}
		/* Enabling THRE interrupts while THR is empty raises one at once. */
		if (!(s->regs.ier & IER_THRI) && (value & IER_THRI))
			s->regs.iir_thri = 1;
		s->regs.ier = value & IER_MASK;
		return update_irq(s);
	case REG_IIR:
		s->regs.fcr = value & 0xc9; /* FIFO enable, DMA mode, trigger level */
		return 0;
	case REG_LCR:
		s->regs.lcr = value;
		return 0;
	case REG_MCR:
		s->regs.mcr = value & MCR_MASK;
		return 0;
	case REG_SCR:
		s->regs.scr = value;
		return 0;
	default:
		return 0; /* LSR and MSR are read-only */
	}
}

size_t fb_serial_save(const struct fb_serial *s, void *buf, size_t cap)
{
	if (cap < sizeof(s->regs))
		return 0;
	memcpy(buf, &s->regs, sizeof(s->regs));
	return sizeof(s->regs);
}

int fb_serial_restore(struct fb_serial *s, const void *buf, size_t len)
{
	if (len != sizeof(s->regs))
		return fb_error("serial state: %zu bytes, expected %zu", len, sizeof(s->regs));
	memcpy(&s->regs, buf, sizeof(s->regs));
	s->regs.mcr &= MCR_MASK;
	s->regs.ier &= IER_MASK;
	s->regs.iir_thri = s->regs.iir_thri ? 1 : 0;
	s->irq_level = 0;
	s->line_len = 0;
	return update_irq(s);
}

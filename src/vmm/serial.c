/* 16550A register semantics, as Linux's 8250 driver probes and drives them. */
#include "vmm/serial.h"

#include "util/error.h"

#include <errno.h>
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

static void sink_byte(struct fb_serial *s, uint8_t byte)
{
	if (s->sink_fd >= 0) {
		ssize_t n;
		do
			n = write(s->sink_fd, &byte, 1);
		while (n < 0 && errno == EINTR);
		/* A full or closed sink must not stop the guest: the byte is dropped. */
	}
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

/* The 16550A model as Linux's 8250 driver probes and drives it, the line
 * tap, THRE interrupts and save/restore; and the MP table layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/mptable.h"
#include "vmm/serial.h"

struct irq_log {
	int levels[64];
	int n;
};

static int record_irq(void *opaque, int level)
{
	struct irq_log *log = opaque;
	if (log->n < 64)
		log->levels[log->n++] = level;
	return 0;
}

struct line_log {
	char lines[4][FB_SERIAL_LINE_MAX];
	int n;
};

static void record_line(void *opaque, const char *line, size_t len)
{
	struct line_log *log = opaque;
	assert_int_equal(strlen(line), len);
	if (log->n < 4)
		memcpy(log->lines[log->n++], line, len + 1);
}

static uint8_t rd(struct fb_serial *s, unsigned off)
{
	uint8_t v = 0;
	assert_int_equal(fb_serial_read(s, off, &v), 0);
	return v;
}

static void wr(struct fb_serial *s, unsigned off, uint8_t v)
{
	assert_int_equal(fb_serial_write(s, off, v), 0);
}

/* What serial8250's autoconfig checks before it calls a port a 16550A. */
static void test_detected_as_16550a(void **state)
{
	(void)state;
	struct fb_serial s;
	fb_serial_init(&s, -1, NULL, NULL);
	wr(&s, 1, 0);
	assert_int_equal(rd(&s, 1), 0);
	wr(&s, 1, 0x0f);
	assert_int_equal(rd(&s, 1), 0x0f);
	wr(&s, 1, 0);
	wr(&s, 4, 0x1a); /* loopback + OUT2 + RTS */
	assert_int_equal(rd(&s, 6) & 0xf0, 0x90);
	wr(&s, 4, 0);
	assert_int_equal(rd(&s, 6) & 0xb0, 0xb0); /* DCD, DSR, CTS */
	wr(&s, 2, 0x01);			  /* enable FIFOs */
	assert_int_equal(rd(&s, 2) & 0xc0, 0xc0);
	wr(&s, 7, 0xa5);
	assert_int_equal(rd(&s, 7), 0xa5);
	assert_int_equal(rd(&s, 5) & 0x60, 0x60); /* THRE + TEMT */
	assert_int_equal(rd(&s, 5) & 0x01, 0);	  /* no input */
}

static void test_divisor_latch(void **state)
{
	(void)state;
	struct fb_serial s;
	int p[2];
	assert_int_equal(pipe(p), 0);
	fb_serial_init(&s, p[1], NULL, NULL);
	wr(&s, 3, 0x80);
	wr(&s, 0, 0x01);
	wr(&s, 1, 0x02);
	assert_int_equal(rd(&s, 0), 0x01);
	assert_int_equal(rd(&s, 1), 0x02);
	wr(&s, 3, 0x03);
	assert_int_equal(rd(&s, 1), 0); /* IER again, untouched by DLM */
	wr(&s, 0, 'x');
	char c = 0;
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	close(p[0]);
	close(p[1]);
}

static void test_line_tap_and_sink(void **state)
{
	(void)state;
	struct fb_serial s;
	struct line_log lines = {0};
	int p[2];
	assert_int_equal(pipe(p), 0);
	fb_serial_init(&s, p[1], NULL, NULL);
	fb_serial_set_line_tap(&s, record_line, &lines);
	const char *text = "forkbox-agent: ready\r\nsecond";
	for (const char *c = text; *c; c++)
		wr(&s, 0, (uint8_t)*c);
	assert_int_equal(lines.n, 1);
	assert_string_equal(lines.lines[0], "forkbox-agent: ready");
	wr(&s, 0, '\n');
	assert_int_equal(lines.n, 2);
	assert_string_equal(lines.lines[1], "second");
	char buf[64] = {0};
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	assert_int_equal(n, (ssize_t)strlen(text) + 1);
	assert_memory_equal(buf, text, strlen(text));
	/* Loopback: nothing leaves the UART. */
	wr(&s, 4, 0x10);
	wr(&s, 0, 'z');
	wr(&s, 0, '\n');
	assert_int_equal(lines.n, 2);
	close(p[0]);
	close(p[1]);
}

static void test_thre_interrupts(void **state)
{
	(void)state;
	struct fb_serial s;
	struct irq_log irq = {0};
	fb_serial_init(&s, -1, record_irq, &irq);
	wr(&s, 2, 0x01);
	wr(&s, 1, 0x02); /* enabling THRI with THR empty raises at once */
	assert_int_equal(irq.n, 1);
	assert_int_equal(irq.levels[0], 1);
	assert_int_equal(rd(&s, 2), 0xc2); /* THRE pending; reading acknowledges */
	assert_int_equal(irq.levels[irq.n - 1], 0);
	assert_int_equal(rd(&s, 2), 0xc1); /* nothing pending */
	int before = irq.n;
	wr(&s, 0, 'a'); /* a byte sent: THR empty again, a fresh edge */
	assert_int_equal(irq.n, before + 1);
	assert_int_equal(irq.levels[irq.n - 1], 1);
	wr(&s, 0, 'b'); /* while pending: the line drops and rises */
	assert_int_equal(irq.n, before + 3);
	assert_int_equal(irq.levels[before + 1], 0);
	assert_int_equal(irq.levels[before + 2], 1);
	wr(&s, 1, 0); /* disabling THRI lowers the line */
	assert_int_equal(irq.levels[irq.n - 1], 0);
}

static void test_save_restore(void **state)
{
	(void)state;
	struct fb_serial a, b;
	fb_serial_init(&a, -1, NULL, NULL);
	wr(&a, 3, 0x03);
	wr(&a, 1, 0x05);
	wr(&a, 4, 0x0b);
	wr(&a, 7, 0x42);
	uint8_t blob[64];
	size_t len = fb_serial_save(&a, blob, sizeof(blob));
	assert_true(len > 0);
	assert_int_equal(fb_serial_save(&a, blob, 2), 0);
	fb_serial_init(&b, -1, NULL, NULL);
	assert_int_equal(fb_serial_restore(&b, blob, len), 0);
	assert_int_equal(rd(&b, 1), 0x05);
	assert_int_equal(rd(&b, 3), 0x03);
	assert_int_equal(rd(&b, 4), 0x0b);
	assert_int_equal(rd(&b, 7), 0x42);
	assert_int_equal(fb_serial_restore(&b, blob, len - 1), -1);
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;
	for (size_t i = 0; i < len; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static void test_mptable(void **state)
{
	(void)state;
	uint64_t size = 1 << 20;
	uint8_t *mem = calloc(1, size);
	assert_non_null(mem);
	assert_int_equal(fb_mptable_write(mem, size, 2), 0);
	const uint8_t *fp = mem + FB_MPTABLE_ADDR;
	assert_memory_equal(fp, "_MP_", 4);
	assert_int_equal(fp[8], 1); /* length in 16-byte units */
	assert_int_equal(sum(fp, 16), 0);
	uint32_t cfg_addr;
	memcpy(&cfg_addr, fp + 4, 4);
	assert_true(cfg_addr >= FB_MPTABLE_ADDR && cfg_addr < 0xa0000);
	const uint8_t *cfg = mem + cfg_addr;
	assert_memory_equal(cfg, "PCMP", 4);
	uint16_t len, count;
	uint32_t lapic;
	memcpy(&len, cfg + 4, 2);
	memcpy(&count, cfg + 34, 2);
	memcpy(&lapic, cfg + 36, 4);
	assert_int_equal(sum(cfg, len), 0);
	assert_int_equal(lapic, FB_LAPIC_ADDR);
	assert_int_equal(count, 2 + 1 + 1 + 16 + 2);
	assert_true(cfg_addr + len <= 0xa0000);
	/* Entries: 2 CPUs (the first is the BSP), bus, IOAPIC, 16 + 2 interrupts. */
	const uint8_t *e = cfg + 44;
	assert_int_equal(e[0], 0);
	assert_int_equal(e[3], 3);
	assert_int_equal(e[20], 0);
	assert_int_equal(e[23], 1);
	e += 40;
	assert_int_equal(e[0], 1);
	assert_memory_equal(e + 2, "ISA", 3);
	e += 8;
	assert_int_equal(e[0], 2);
	uint32_t ioapic;
	memcpy(&ioapic, e + 4, 4);
	assert_int_equal(ioapic, FB_IOAPIC_ADDR);
	e += 8;
	for (int irq = 0; irq < 16; irq++, e += 8) {
		assert_int_equal(e[0], 3);
		assert_int_equal(e[5], irq); /* source IRQ */
		assert_int_equal(e[7], irq); /* IOAPIC pin */
	}
	assert_int_equal(e[0], 4);
	assert_int_equal(e[1], 3); /* LINT0: ExtINT */
	assert_int_equal(e[8], 4);
	assert_int_equal(e[9], 1); /* LINT1: NMI */
	assert_int_equal(fb_mptable_write(mem, size, 0), -1);
	assert_int_equal(fb_mptable_write(mem, size, FB_MPTABLE_MAX_CPUS + 1), -1);
	assert_int_equal(fb_mptable_write(mem, 0x90000, 1), -1); /* RAM ends below the table */
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detected_as_16550a), cmocka_unit_test(test_divisor_latch),
	    cmocka_unit_test(test_line_tap_and_sink),  cmocka_unit_test(test_thre_interrupts),
	    cmocka_unit_test(test_save_restore),       cmocka_unit_test(test_mptable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

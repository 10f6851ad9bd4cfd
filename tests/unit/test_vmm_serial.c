/* The 16550A model as Linux's 8250 driver probes and drives it, the line
 * tap, THRE interrupts and save/restore; and the MP table layout. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Everything the sink pipe holds (non-blocking read), NUL-terminated. */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;
	while (got < cap - 1 && (n = read(fd, buf + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	return got;
}

static void send_text(struct fb_serial *s, char byte, size_t count)
{
	for (size_t i = 0; i < count; i++)
		wr(s, 0, (uint8_t)(i % 64 == 63 ? '\n' : byte));
}

/* A fork's console is cut at its per-VM cap, with one notice, while the
 * line tap (panic detection) still sees everything. */
static void test_sink_capped_per_vm(void **state)
{
	(void)state;
	struct fb_serial s;
	struct line_log lines = {0};
	static char buf[8192];
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	fb_serial_init(&s, p[1], NULL, NULL);
	fb_serial_limit_sink(&s, 1000, NULL);
	send_text(&s, 'a', 3000);
	size_t n = drain(p[0], buf, sizeof(buf));
	const char *note = strstr(buf, "[forkbox: guest console cut here: over 1000 bytes");
	assert_non_null(note);
	assert_int_equal(note - buf, 1001); /* 1000 bytes, "\n", the notice */
	assert_int_equal(n, (size_t)(strchr(note, '\n') - buf) + 1); /* only one notice */
	fb_serial_set_line_tap(&s, record_line, &lines);
	send_text(&s, 'b', 64);
	assert_int_equal(lines.n, 1);
	assert_int_equal(drain(p[0], buf, sizeof(buf)), 0);
	/* A new VM (fb_serial_limit_sink again) starts a fresh allowance. */
	fb_serial_limit_sink(&s, 1000, NULL);
	send_text(&s, 'c', 10);
	assert_int_equal(drain(p[0], buf, sizeof(buf)), 10);
	close(p[0]);
	close(p[1]);
}

/* All limited consoles share the process's bucket: past its burst, bytes
 * are dropped (one notice per VM) until time refills it. */
static void test_sink_rate_limited(void **state)
{
	(void)state;
	struct fb_serial_bucket bucket;
	struct fb_serial a, b;
	static char buf[8192];
	int p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	fb_serial_bucket_init(&bucket, 2000, 500); /* 2000 bytes/s, burst 500 */
	fb_serial_init(&a, p[1], NULL, NULL);
	fb_serial_init(&b, p[1], NULL, NULL);
	fb_serial_limit_sink(&a, 100000, &bucket);
	fb_serial_limit_sink(&b, 100000, &bucket);
	send_text(&a, 'a', 300);
	send_text(&b, 'b', 300);
	size_t n = drain(p[0], buf, sizeof(buf));
	const char *note = strstr(buf, "[forkbox: guest console dropped: over 2000 bytes/s");
	assert_non_null(note);
	/* The burst (and what the few ms of sending earned), then b's notice. */
	assert_in_range(note - buf, 501, 530);
	assert_int_equal(n, (size_t)(strchr(note, '\n') - buf) + 1); /* a's was first, no notice */
	send_text(&b, 'b', 300);
	assert_in_range(drain(p[0], buf, sizeof(buf)), 0, 30);
	assert_null(strstr(buf, "[forkbox")); /* one notice per VM */
	usleep(100 * 1000);		      /* ~200 bytes of tokens */
	send_text(&a, 'a', 1000);
	drain(p[0], buf, sizeof(buf));
	char *a_note = strstr(buf, "[forkbox:");
	assert_non_null(a_note);
	size_t passed = (size_t)(a_note - buf) - 1;
	printf("# %zu bytes passed after 100 ms at 2000 bytes/s\n", passed);
	assert_true(passed >= 150 && passed <= 500);
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
	    cmocka_unit_test(test_sink_capped_per_vm), cmocka_unit_test(test_sink_rate_limited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

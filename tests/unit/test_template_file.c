/* Template file: round trip from the micro-guest, sparse layout, and every
 * kind of damaged file refused with its own message. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "microguest.h"
#include "util/error.h"
#include "vmm/snapshot/cpuid.h"

#define ITERATIONS 500

static char dir[] = "/tmp/fb-tmpl-test.XXXXXX";
static char good[256], work[300];

static void copy_file(const char *from, const char *to)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", from, to);
	assert_int_equal(system(cmd), 0);
}

static void patch(const char *path, uint64_t off, const void *bytes, size_t len)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void flip(const char *path, uint64_t off)
{
	uint8_t b = 0;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static struct fb_template *open_ok(const char *path)
{
	struct fb_template *t = NULL;
	if (fb_template_open(path, &t) < 0)
		fail_msg("open %s: %s", path, fb_error_last());
	return t;
}

static void expect_open_error(const char *path, const char *text)
{
	struct fb_template *t = NULL;
	assert_int_equal(fb_template_open(path, &t), -1);
	assert_null(t);
	if (!strstr(fb_error_last(), text))
		fail_msg("error \"%s\" lacks \"%s\"", fb_error_last(), text);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	snprintf(good, sizeof(good), "%s/good.tmpl", dir);
	snprintf(work, sizeof(work), "%s/work.tmpl", dir);
	if (mg_write_template(good, ITERATIONS, NULL) < 0) {
		fprintf(stderr, "write template: %s\n", fb_error_last());
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct fb_template *t = open_ok(good);
	assert_int_equal(fb_template_version(t), FB_TEMPLATE_VERSION);
	assert_int_equal(fb_template_mem_size(t), MG_MEM_SIZE);
	assert_int_equal(fb_template_mem_offset(t) % FB_TEMPLATE_MEM_ALIGN, 0);
	assert_true(fb_template_cpuid_fingerprint(t) == fb_cpuid_fingerprint(mg_host_cpuid()));
	assert_int_equal(fb_template_check_cpu(t, fb_cpuid_fingerprint(mg_host_cpuid())), 0);
	assert_int_equal(fb_template_check_host(t, mg_kvm_fd()), 0);
	assert_int_equal(fb_template_nr_vcpus(t), 1);
	assert_int_equal(fb_template_vcpu(t, 0)->regs.r12, 3 * ITERATIONS);
	assert_null(fb_template_vcpu(t, 1));
	assert_true(fb_template_vm(t)->flags & FB_VM_HAS_IRQCHIP);
	const void *data;
	size_t size;
	assert_int_equal(fb_template_device(t, "serial", &data, &size), 0);
	assert_int_equal(size, sizeof("serial-state"));
	assert_string_equal(data, "serial-state");
	assert_int_equal(fb_template_device(t, "vsock", &data, &size), -1);
	assert_non_null(strstr(fb_error_last(), "no device state 'vsock'"));
	assert_string_equal(fb_template_meta(t, FB_META_KERNEL_HASH), "micro-guest");
	assert_non_null(fb_template_meta(t, FB_META_CREATED));
	assert_null(fb_template_meta(t, "nope"));
	assert_int_equal(fb_template_verify_memory(t), 0);
	fb_template_close(t);
}

/* End of the last state section (guest memory starts later). */
static uint64_t state_end(struct fb_template *t)
{
	uint64_t end = 0;
	for (unsigned i = 0; i < fb_template_nr_sections(t); i++) {
		const struct fb_template_section_info *s = fb_template_section(t, i);
		if (s->offset + s->size > end)
			end = s->offset + s->size;
	}
	return end;
}

/* Blocks allocated by an ideal sparse copy of the template: its header and
 * state sections, and only the non-zero 4 KiB pages of guest memory. File
 * systems that allocate in bigger units (huge page tmpfs) give the same
 * count for the template when no zero page of memory was written out. */
static uint64_t ideal_sparse_blocks(const char *path, uint64_t size, uint64_t state_end)
{
	char copy[300];
	uint8_t page[4096], zero[4096] = {0};
	struct stat st;
	snprintf(copy, sizeof(copy), "%s/ideal", dir);
	int in = open(path, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(in >= 0 && out >= 0);
	assert_int_equal(ftruncate(out, (off_t)size), 0);
	for (uint64_t off = 0; off < size; off += sizeof(page)) {
		assert_int_equal(pread(in, page, sizeof(page), (off_t)off), (ssize_t)sizeof(page));
		if (off < state_end || memcmp(page, zero, sizeof(page)) != 0)
			assert_int_equal(pwrite(out, page, sizeof(page), (off_t)off),
					 (ssize_t)sizeof(page));
	}
	assert_int_equal(fstat(out, &st), 0);
	close(in);
	close(out);
	unlink(copy);
	return (uint64_t)st.st_blocks;
}

/* Zero pages are holes. Checked on a fresh file: on tmpfs, reading a hole
 * through a mapping allocates it. */
static void test_sparse(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(mg_write_template(work, ITERATIONS, NULL), 0);
	assert_int_equal(stat(work, &st), 0);
	struct fb_template *t = open_ok(work);
	assert_int_equal((uint64_t)st.st_size, fb_template_file_size(t));
	assert_true((uint64_t)st.st_size > MG_MEM_SIZE);
	/* Allocated: header, state, the non-zero pages; no zero page written. */
	uint64_t ideal = ideal_sparse_blocks(work, (uint64_t)st.st_size, state_end(t));
	if ((uint64_t)st.st_blocks > ideal)
		fail_msg("template allocates %llu blocks, an ideal sparse copy %llu",
			 (unsigned long long)st.st_blocks, (unsigned long long)ideal);
	assert_true((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size);
	fb_template_close(t);
}

/* The memory maps straight from the file and matches the header. */
static void test_mapped(void **state)
{
	(void)state;
	struct fb_template *t = open_ok(good);
	uint8_t *mem;
	assert_int_equal(fb_template_map_memory(t, (void **)&mem), 0);
	uint64_t nonzero = 0;
	for (uint64_t off = 0; off < MG_MEM_SIZE; off += 4096) {
		int z = 1;
		for (int i = 0; i < 4096 && z; i++)
			z = mem[off + i] == 0;
		nonzero += !z;
	}
	assert_int_equal(nonzero, fb_template_mem_nonzero_pages(t));
	uint64_t counter;
	memcpy(&counter, mem + MG_COUNTER_GPA, 8);
	assert_int_equal(counter, ITERATIONS);
	munmap(mem, MG_MEM_SIZE);
	fb_template_close(t);
}

static void test_missing_and_not_template(void **state)
{
	(void)state;
	char path[320];
	snprintf(path, sizeof(path), "%s/none.tmpl", dir);
	expect_open_error(path, "none.tmpl: No such file or directory");
	int fd = open(work, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "hello, world\n", 13), 13);
	close(fd);
	expect_open_error(work, "work.tmpl: not a forkbox template");
	copy_file(good, work);
	patch(work, 0, "FORKBIX", 7);
	expect_open_error(work, "work.tmpl: not a forkbox template");
}

static void test_future_version(void **state)
{
	(void)state;
	copy_file(good, work);
	uint32_t v = FB_TEMPLATE_VERSION + 1;
	patch(work, 16, &v, 4);
	expect_open_error(work, "unsupported template version 2 (this forkbox reads 1)");
}

static void test_truncated(void **state)
{
	(void)state;
	struct stat st;
	char want[200];
	copy_file(good, work);
	assert_int_equal(stat(work, &st), 0);
	assert_int_equal(truncate(work, st.st_size - 4096), 0);
	snprintf(want, sizeof(want), "work.tmpl: truncated: expected %lld bytes, found %lld",
		 (long long)st.st_size, (long long)st.st_size - 4096);
	expect_open_error(work, want);
	assert_int_equal(truncate(work, 100), 0);
	expect_open_error(work, "truncated: expected 4096 bytes, found 100");
}

static void test_corrupt_header(void **state)
{
	(void)state;
	static const uint64_t offsets[] = {28, 33, 41, 64, 130, 200, 4000};
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		copy_file(good, work);
		flip(work, offsets[i]);
		expect_open_error(work, "work.tmpl: corrupt header");
	}
}

static const struct fb_template_section_info *section(struct fb_template *t, const char *name)
{
	for (unsigned i = 0; i < fb_template_nr_sections(t); i++)
		if (!strcmp(fb_template_section(t, i)->name, name))
			return fb_template_section(t, i);
	fail_msg("no section %s", name);
	return NULL;
}

static void test_corrupt_sections(void **state)
{
	(void)state;
	static const char *const names[] = {"cpuid", "vm", "vcpu0", "dev:serial", "meta"};
	struct fb_template *t = open_ok(good);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct fb_template_section_info *s = section(t, names[i]);
		char want[100];
		copy_file(good, work);
		flip(work, s->offset + s->size / 2);
		snprintf(want, sizeof(want), "corrupt section '%s'", names[i]);
		expect_open_error(work, want);
	}
	fb_template_close(t);
}

/* Memory is checked by fb_template_verify_memory(), not at open. */
static void test_corrupt_memory(void **state)
{
	(void)state;
	uint64_t in_page = MG_COUNTER_GPA + 3, in_hole = 3u << 20;
	uint64_t where[] = {in_page, in_hole};
	for (int i = 0; i < 2; i++) {
		copy_file(good, work);
		struct fb_template *t = open_ok(work);
		flip(work, fb_template_mem_offset(t) + where[i]);
		assert_int_equal(fb_template_verify_memory(t), -1);
		assert_non_null(strstr(fb_error_last(), "work.tmpl: corrupt guest memory"));
		fb_template_close(t);
	}
}

static int same_bytes(const char *a, const char *b)
{
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

/* No room for a new template (the file size limit stands in for a full
 * disk): the write fails, naming the file, and the good template at that
 * path stays as it was, with no temporary file left beside it. */
static void test_disk_full_keeps_the_old_file(void **state)
{
	(void)state;
	struct rlimit saved, small;
	char tmp[320];
	copy_file(good, work);
	snprintf(tmp, sizeof(tmp), "%s.tmp", work);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	small = saved;
	small.rlim_cur = 64 << 10;
	void (*old)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG, not death */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = mg_write_template(work, ITERATIONS + 1, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, old);
	assert_int_equal(rc, -1);
	if (!strstr(fb_error_last(), "work.tmpl") || !strstr(fb_error_last(), "File too large"))
		fail_msg("error \"%s\" names neither the file nor the cause", fb_error_last());
	assert_true(same_bytes(good, work));
	assert_int_equal(access(tmp, F_OK), -1);
	fb_template_close(open_ok(work));
}

static void test_cpu_mismatch(void **state)
{
	(void)state;
	struct kvm_cpuid2 *other = fb_cpuid_dup(mg_host_cpuid());
	for (uint32_t i = 0; i < other->nent; i++)
		if (other->entries[i].function == 1)
			other->entries[i].ecx ^= 1u << 0; /* SSE3 differs */
	assert_int_equal(mg_write_template(work, 10, other), 0);
	struct fb_template *t = open_ok(work);
	uint64_t host = fb_cpuid_fingerprint(mg_host_cpuid());
	char want[200];
	snprintf(want, sizeof(want),
		 "work.tmpl: template was built on a different CPU (fingerprint %016llx, this "
		 "host %016llx); rebuild it with `forkbox template build`",
		 (unsigned long long)fb_cpuid_fingerprint(other), (unsigned long long)host);
	assert_int_equal(fb_template_check_cpu(t, host), -1);
	assert_non_null(strstr(fb_error_last(), want));
	assert_int_equal(fb_template_check_host(t, mg_kvm_fd()), -1);
	assert_non_null(strstr(fb_error_last(), want));
	fb_template_close(t);
	free(other);
}

/* Random flips anywhere before guest memory: refused (header and sections
 * are checksummed) or, in padding, harmless; never a crash. */
static void test_fuzz_file(void **state)
{
	(void)state;
	struct fb_template *t = open_ok(good);
	uint64_t end = state_end(t);
	fb_template_close(t);
	unsigned seed = 777, refused = 0;
	for (int round = 0; round < 60; round++) {
		copy_file(good, work);
		for (int f = 0; f < 3; f++)
			flip(work, rand_r(&seed) % end);
		struct fb_template *u = NULL;
		if (fb_template_open(work, &u) < 0)
			refused++;
		else
			fb_template_close(u);
	}
	assert_true(refused >= 55);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_sparse),
	    cmocka_unit_test(test_mapped),
	    cmocka_unit_test(test_missing_and_not_template),
	    cmocka_unit_test(test_future_version),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_corrupt_header),
	    cmocka_unit_test(test_corrupt_sections),
	    cmocka_unit_test(test_corrupt_memory),
	    cmocka_unit_test(test_cpu_mismatch),
	    cmocka_unit_test(test_disk_full_keeps_the_old_file),
	    cmocka_unit_test(test_fuzz_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

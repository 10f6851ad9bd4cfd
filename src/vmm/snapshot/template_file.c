/* Writing a template file: header, state sections, sparse guest memory. */
#include "vmm/snapshot/template_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/error.h"
#include "vmm/snapshot/cpuid.h"
#include "vmm/snapshot/hash.h"
#include "vmm/snapshot/template_layout.h"

struct section {
	char name[FB_TEMPLATE_NAME_MAX];
	void *data;
	size_t size;
};

struct layout {
	struct section s[FB_TEMPLATE_MAX_SECTIONS];
	unsigned n;
	uint64_t mem_offset;
	uint64_t nonzero_pages;
};

static int add_section(struct layout *l, const char *name, void *data, size_t size)
{
	if (!data)
		return -1; /* serializer recorded why */
	if (l->n == FB_TEMPLATE_MAX_SECTIONS) {
		free(data);
		return fb_error("more than %d template sections", FB_TEMPLATE_MAX_SECTIONS);
	}
	snprintf(l->s[l->n].name, FB_TEMPLATE_NAME_MAX, "%s", name);
	l->s[l->n].data = data;
	l->s[l->n].size = size;
	l->n++;
	return 0;
}

static void *copy_bytes(const void *data, size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		fb_error("out of memory");
	else if (size)
		memcpy(p, data, size);
	return p;
}

static int valid_name(const char *s, size_t max, const char *extra)
{
	size_t n = strnlen(s, max + 1);
	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      strchr(extra, s[i])))
			return 0;
	return 1;
}

static int has_key(const struct fb_template_parts *p, const char *key)
{
	for (unsigned i = 0; i < p->nr_meta; i++)
		if (!strcmp(p->meta[i].key, key))
			return 1;
	return 0;
}

/* "key=value\n" lines; "created" added when the caller gave none. */
static void *meta_text(const struct fb_template_parts *p, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f) {
		fb_error_errno("open_memstream");
		return NULL;
	}
	for (unsigned i = 0; i < p->nr_meta; i++)
		fprintf(f, "%s=%s\n", p->meta[i].key, p->meta[i].value);
	if (!has_key(p, FB_META_CREATED)) {
		char when[32];
		time_t now = time(NULL);
		struct tm tm;
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
		fprintf(f, "%s=%s\n", FB_META_CREATED, when);
	}
	if (fclose(f) != 0) {
		free(buf);
		fb_error_errno("metadata");
		return NULL;
	}
	return buf;
}

static int check_parts(const struct fb_template_parts *p)
{
	if (!p->cpuid || !p->vm || !p->vcpus || p->nr_vcpus == 0 ||
	    p->nr_vcpus > FB_TEMPLATE_MAX_VCPUS || p->nr_devices > FB_TEMPLATE_MAX_DEVICES)
		return fb_error("template parts incomplete (CPUID, VM state, 1..%d vCPUs)",
				FB_TEMPLATE_MAX_VCPUS);
	if (!p->mem || p->mem_size == 0 || p->mem_size % FB_TEMPLATE_PAGE_SIZE)
		return fb_error("guest memory size %llu is not a multiple of 4 KiB",
				(unsigned long long)p->mem_size);
	for (unsigned i = 0; i < p->nr_devices; i++)
		if (!valid_name(p->devices[i].name, FB_TEMPLATE_NAME_MAX - 5, "-"))
			return fb_error("bad device name '%s'", p->devices[i].name);
	for (unsigned i = 0; i < p->nr_meta; i++)
		if (!valid_name(p->meta[i].key, 64, "") || strchr(p->meta[i].value, '\n'))
			return fb_error("bad metadata entry '%s'", p->meta[i].key);
	return 0;
}

/* The serializers return malloc'ed bytes and their length. */
static int add_serialized(struct layout *l, const char *name, void *data, const size_t *len)
{
	return add_section(l, name, data, data ? *len : 0);
}

static int build_sections(struct layout *l, const struct fb_template_parts *p)
{
	size_t len = 0;
	char name[FB_TEMPLATE_NAME_MAX];
	void *data = fb_cpuid_serialize(p->cpuid, &len);
	if (add_serialized(l, "cpuid", data, &len) < 0)
		return -1;
	data = fb_vm_state_serialize(p->vm, &len);
	if (add_serialized(l, "vm", data, &len) < 0)
		return -1;
	for (unsigned i = 0; i < p->nr_vcpus; i++) {
		snprintf(name, sizeof(name), "vcpu%u", i);
		data = fb_vcpu_state_serialize(&p->vcpus[i], &len);
		if (add_serialized(l, name, data, &len) < 0)
			return -1;
	}
	for (unsigned i = 0; i < p->nr_devices; i++) {
		const struct fb_template_blob *d = &p->devices[i];
		snprintf(name, sizeof(name), "dev:%s", d->name);
		if (add_section(l, name, copy_bytes(d->data, d->size), d->size) < 0)
			return -1;
	}
	len = (size_t)(p->mem_size / FB_TEMPLATE_PAGE_SIZE + 7) / 8;
	if (p->wset && add_section(l, "wset", copy_bytes(p->wset, len), len) < 0)
		return -1;
	if (p->wcopy && add_section(l, "wcopy", copy_bytes(p->wcopy, len), len) < 0)
		return -1;
	data = meta_text(p, &len);
	return add_serialized(l, "meta", data, &len);
}

static void free_sections(struct layout *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->s[i].data);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Header and section table; section data follows from TMPL_HEADER_SIZE. */
static void fill_header(uint8_t *h, struct layout *l, const struct fb_template_parts *p,
			uint64_t mem_checksum)
{
	uint64_t off = TMPL_HEADER_SIZE;
	memset(h, 0, TMPL_HEADER_SIZE);
	memcpy(h, TMPL_MAGIC, TMPL_MAGIC_LEN);
	tmpl_put32(h + TMPL_OFF_VERSION, FB_TEMPLATE_VERSION);
	tmpl_put32(h + TMPL_OFF_HEADER_SIZE, TMPL_HEADER_SIZE);
	tmpl_put32(h + TMPL_OFF_NR_SECTIONS, l->n);
	tmpl_put64(h + TMPL_OFF_FINGERPRINT, fb_cpuid_fingerprint(p->cpuid));
	for (unsigned i = 0; i < l->n; i++) {
		uint8_t *e = h + TMPL_SECTIONS_AT + i * TMPL_SECTION_BYTES;
		memcpy(e, l->s[i].name, FB_TEMPLATE_NAME_MAX);
		tmpl_put64(e + 16, off);
		tmpl_put64(e + 24, l->s[i].size);
		tmpl_put64(e + 32, fb_hash64(l->s[i].data, l->s[i].size, TMPL_CHECKSUM_SEED));
		off = align_up(off + l->s[i].size, TMPL_SECTION_ALIGN);
	}
	l->mem_offset = align_up(off, FB_TEMPLATE_MEM_ALIGN);
	tmpl_put64(h + TMPL_OFF_MEM_SIZE, p->mem_size);
	tmpl_put64(h + TMPL_OFF_MEM_OFFSET, l->mem_offset);
	tmpl_put64(h + TMPL_OFF_MEM_CHECKSUM, mem_checksum);
	tmpl_put64(h + TMPL_OFF_MEM_NONZERO, l->nonzero_pages);
	tmpl_put64(h + TMPL_OFF_FILE_SIZE, l->mem_offset + p->mem_size);
	tmpl_put64(h + TMPL_CHECKSUM_AT, fb_hash64(h, TMPL_CHECKSUM_AT, TMPL_CHECKSUM_SEED));
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fb_error_errno("write template");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int page_is_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)page;
	for (size_t i = 0; i < FB_TEMPLATE_PAGE_SIZE / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

/* Write runs of non-zero pages; zero pages stay holes of the file. */
static int write_memory(int fd, struct layout *l, const struct fb_template_parts *p,
			fb_template_progress_fn progress, void *ctx)
{
	const uint8_t *mem = p->mem;
	uint64_t pages = p->mem_size / FB_TEMPLATE_PAGE_SIZE, run = 0;
	l->nonzero_pages = 0;
	for (uint64_t i = 0; i <= pages; i++) {
		if (progress && i % 16384 == 0)
			progress(ctx, i * FB_TEMPLATE_PAGE_SIZE, p->mem_size);
		int data = i < pages && !page_is_zero(mem + i * FB_TEMPLATE_PAGE_SIZE);
		l->nonzero_pages += data;
		if (data && (i - run) < 4096) /* runs of at most 16 MiB */
			continue;
		uint64_t off = run * FB_TEMPLATE_PAGE_SIZE, len = (i - run) * FB_TEMPLATE_PAGE_SIZE;
		if (len && pwrite_all(fd, mem + off, len, l->mem_offset + off) < 0)
			return -1;
		run = data ? i : i + 1;
	}
	if (progress)
		progress(ctx, p->mem_size, p->mem_size);
	return 0;
}

static int write_file(int fd, struct layout *l, const struct fb_template_parts *p,
		      fb_template_progress_fn progress, void *ctx)
{
	uint8_t *header = malloc(TMPL_HEADER_SIZE);
	if (!header)
		return fb_error("out of memory");
	fill_header(header, l, p, 0); /* lays out sections and memory */
	int r = -1;
	if (ftruncate(fd, (off_t)(l->mem_offset + p->mem_size)) < 0) {
		fb_error_errno("ftruncate");
		goto out;
	}
	for (unsigned i = 0; i < l->n; i++) {
		uint64_t off = tmpl_get64(header + TMPL_SECTIONS_AT + i * TMPL_SECTION_BYTES + 16);
		if (pwrite_all(fd, l->s[i].data, l->s[i].size, off) < 0)
			goto out;
	}
	if (write_memory(fd, l, p, progress, ctx) < 0)
		goto out;
	fill_header(header, l, p, fb_hash64(p->mem, p->mem_size, TMPL_CHECKSUM_SEED));
	if (pwrite_all(fd, header, TMPL_HEADER_SIZE, 0) < 0)
		goto out;
	r = fsync(fd) < 0 ? fb_error_errno("fsync") : 0;
out:
	free(header);
	return r;
}

static int fsync_dir(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return fb_error("out of memory");
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 || fsync(fd) < 0 ? fb_error_errno("fsync directory of %s", path) : 0;
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int fb_template_write(const char *path, const struct fb_template_parts *parts,
		      fb_template_progress_fn progress, void *ctx)
{
	struct layout l = {.n = 0};
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return fb_error("%s: path too long", path);
	if (check_parts(parts) < 0 || build_sections(&l, parts) < 0) {
		free_sections(&l);
		return fb_error_prefix("%s", path);
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free_sections(&l);
		return fb_error_errno("%s", tmp);
	}
	int r = write_file(fd, &l, parts, progress, ctx);
	free_sections(&l);
	if (close(fd) < 0 && r == 0)
		r = fb_error_errno("close %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = fb_error_errno("rename %s to %s", tmp, path);
	if (r < 0) {
		unlink(tmp);
		return fb_error_prefix("%s", path);
	}
	return fsync_dir(path);
}

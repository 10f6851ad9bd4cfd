/* Opening a template file: every check except the memory checksum, then
 * the parsed state, kept read-only for all forks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "vmm/snapshot/cpuid.h"
#include "vmm/snapshot/hash.h"
#include "vmm/snapshot/template_file.h"
#include "vmm/snapshot/template_layout.h"

#define MAX_META 64

struct device {
	char name[FB_TEMPLATE_NAME_MAX];
	const void *data;
	size_t size;
};

struct fb_template {
	char *path;
	int fd;
	uint32_t version;
	uint64_t fingerprint, mem_size, mem_offset, mem_checksum, nonzero_pages, file_size;
	unsigned nr_sections;
	struct fb_template_section_info sections[FB_TEMPLATE_MAX_SECTIONS];
	uint8_t *state; /* bytes TMPL_HEADER_SIZE..end of the last section */
	struct kvm_cpuid2 *cpuid;
	unsigned nr_vcpus;
	struct fb_vcpu_state *vcpus;
	struct fb_vm_state vm;
	int have_vm;
	unsigned nr_devices;
	struct device devices[FB_TEMPLATE_MAX_DEVICES];
	const uint8_t *wset, *wcopy; /* inside state, or NULL */
	unsigned nr_meta;
	char *meta_text;
	const char *meta_key[MAX_META], *meta_value[MAX_META];
};

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fb_error_errno("read");
		if (n == 0)
			return fb_error("unexpected end of file");
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int truncated(const struct fb_template *t, uint64_t expected)
{
	return fb_error("%s: truncated: expected %llu bytes, found %llu", t->path,
			(unsigned long long)expected, (unsigned long long)t->file_size);
}

static int check_magic_version(struct fb_template *t, const uint8_t *h, size_t got)
{
	if (got < TMPL_OFF_VERSION + 4 || memcmp(h, TMPL_MAGIC, TMPL_MAGIC_LEN) != 0)
		return fb_error("%s: not a forkbox template", t->path);
	t->version = tmpl_get32(h + TMPL_OFF_VERSION);
	if (t->version != FB_TEMPLATE_VERSION)
		return fb_error("%s: unsupported template version %u (this forkbox reads %u)",
				t->path, t->version, FB_TEMPLATE_VERSION);
	if (got < TMPL_HEADER_SIZE)
		return truncated(t, TMPL_HEADER_SIZE);
	return 0;
}

/* The header as bytes on disk; checked magic, version, checksum, sizes. */
static int read_header(struct fb_template *t, uint8_t *h)
{
	size_t got = t->file_size < TMPL_HEADER_SIZE ? (size_t)t->file_size : TMPL_HEADER_SIZE;
	memset(h, 0, TMPL_HEADER_SIZE);
	if (pread_all(t->fd, h, got, 0) < 0)
		return fb_error_prefix("%s", t->path);
	if (check_magic_version(t, h, got) < 0)
		return -1;
	if (tmpl_get64(h + TMPL_CHECKSUM_AT) !=
		fb_hash64(h, TMPL_CHECKSUM_AT, TMPL_CHECKSUM_SEED) ||
	    tmpl_get32(h + TMPL_OFF_HEADER_SIZE) != TMPL_HEADER_SIZE)
		return fb_error("%s: corrupt header (checksum mismatch)", t->path);
	t->fingerprint = tmpl_get64(h + TMPL_OFF_FINGERPRINT);
	t->mem_size = tmpl_get64(h + TMPL_OFF_MEM_SIZE);
	t->mem_offset = tmpl_get64(h + TMPL_OFF_MEM_OFFSET);
	t->mem_checksum = tmpl_get64(h + TMPL_OFF_MEM_CHECKSUM);
	t->nonzero_pages = tmpl_get64(h + TMPL_OFF_MEM_NONZERO);
	t->nr_sections = tmpl_get32(h + TMPL_OFF_NR_SECTIONS);
	uint64_t expected = tmpl_get64(h + TMPL_OFF_FILE_SIZE);
	if (t->mem_offset % FB_TEMPLATE_MEM_ALIGN || t->mem_offset < TMPL_HEADER_SIZE ||
	    t->mem_size % FB_TEMPLATE_PAGE_SIZE || t->mem_size == 0 ||
	    t->mem_size > UINT64_MAX - t->mem_offset || expected != t->mem_offset + t->mem_size ||
	    t->nr_sections > FB_TEMPLATE_MAX_SECTIONS ||
	    t->nonzero_pages > t->mem_size / FB_TEMPLATE_PAGE_SIZE)
		return fb_error("%s: corrupt header (inconsistent sizes)", t->path);
	if (t->file_size < expected)
		return truncated(t, expected);
	if (t->file_size > expected)
		return fb_error("%s: corrupt: %llu bytes, header says %llu", t->path,
				(unsigned long long)t->file_size, (unsigned long long)expected);
	return 0;
}

/* Section table: NUL-terminated unique names, inside [header, memory). */
static int read_section_table(struct fb_template *t, const uint8_t *h)
{
	for (unsigned i = 0; i < t->nr_sections; i++) {
		const uint8_t *e = h + TMPL_SECTIONS_AT + i * TMPL_SECTION_BYTES;
		struct fb_template_section_info *s = &t->sections[i];
		memcpy(s->name, e, FB_TEMPLATE_NAME_MAX);
		s->offset = tmpl_get64(e + 16);
		s->size = tmpl_get64(e + 24);
		s->checksum = tmpl_get64(e + 32);
		if (memchr(s->name, 0, FB_TEMPLATE_NAME_MAX) == NULL || s->name[0] == 0 ||
		    s->offset < TMPL_HEADER_SIZE || s->offset > t->mem_offset ||
		    s->size > t->mem_offset - s->offset || s->size > TMPL_MAX_STATE_BYTES)
			return fb_error("%s: corrupt header (section %u out of bounds)", t->path,
					i);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(t->sections[j].name, s->name))
				return fb_error("%s: corrupt header (section '%s' twice)", t->path,
						s->name);
	}
	return 0;
}

static uint64_t state_end(const struct fb_template *t)
{
	uint64_t end = TMPL_HEADER_SIZE;
	for (unsigned i = 0; i < t->nr_sections; i++)
		if (t->sections[i].offset + t->sections[i].size > end)
			end = t->sections[i].offset + t->sections[i].size;
	return end;
}

/* Read all sections in one go and check each one's checksum. */
static int read_sections(struct fb_template *t)
{
	uint64_t end = state_end(t);
	if (end - TMPL_HEADER_SIZE > TMPL_MAX_STATE_BYTES)
		return fb_error("%s: corrupt header (state sections too large)", t->path);
	t->state = malloc(end - TMPL_HEADER_SIZE + 1);
	if (!t->state)
		return fb_error("out of memory");
	if (pread_all(t->fd, t->state, end - TMPL_HEADER_SIZE, TMPL_HEADER_SIZE) < 0)
		return fb_error_prefix("%s", t->path);
	for (unsigned i = 0; i < t->nr_sections; i++) {
		const struct fb_template_section_info *s = &t->sections[i];
		const uint8_t *data = t->state + (s->offset - TMPL_HEADER_SIZE);
		if (fb_hash64(data, s->size, TMPL_CHECKSUM_SEED) != s->checksum)
			return fb_error("%s: corrupt section '%s' (checksum mismatch)", t->path,
					s->name);
	}
	return 0;
}

static const uint8_t *section_data(const struct fb_template *t, unsigned i)
{
	return t->state + (t->sections[i].offset - TMPL_HEADER_SIZE);
}

/* "key=value\n" lines into key/value pointers (the text is NUL-split). */
static int parse_meta(struct fb_template *t, const uint8_t *data, size_t size)
{
	t->meta_text = malloc(size + 1);
	if (!t->meta_text)
		return fb_error("out of memory");
	memcpy(t->meta_text, data, size);
	t->meta_text[size] = 0;
	if (strlen(t->meta_text) != size || (size && t->meta_text[size - 1] != '\n'))
		return fb_error("metadata is not text lines");
	for (char *line = t->meta_text; *line;) {
		char *nl = strchr(line, '\n'), *eq = strchr(line, '=');
		*nl = 0;
		if (!eq || eq > nl || t->nr_meta == MAX_META)
			return fb_error("bad metadata line '%s'", line);
		*eq = 0;
		t->meta_key[t->nr_meta] = line;
		t->meta_value[t->nr_meta++] = eq + 1;
		line = nl + 1;
	}
	return 0;
}

static int parse_vcpu(struct fb_template *t, const char *name, const uint8_t *data, size_t size)
{
	char *end;
	unsigned long idx = strtoul(name + 4, &end, 10);
	if (*end || end == name + 4 || idx != t->nr_vcpus || idx >= FB_TEMPLATE_MAX_VCPUS)
		return fb_error("unexpected vCPU section");
	if (!t->vcpus)
		t->vcpus = calloc(1, FB_TEMPLATE_MAX_VCPUS * sizeof(*t->vcpus));
	if (!t->vcpus)
		return fb_error("out of memory");
	if (fb_vcpu_state_parse(data, size, &t->vcpus[idx]) < 0)
		return -1;
	t->nr_vcpus++;
	return 0;
}

static int parse_device(struct fb_template *t, const char *name, const uint8_t *data, size_t size)
{
	if (t->nr_devices == FB_TEMPLATE_MAX_DEVICES)
		return fb_error("too many device sections");
	struct device *d = &t->devices[t->nr_devices++];
	snprintf(d->name, sizeof(d->name), "%s", name + 4);
	d->data = data;
	d->size = size;
	return 0;
}

static int parse_section(struct fb_template *t, unsigned i)
{
	const char *name = t->sections[i].name;
	const uint8_t *data = section_data(t, i);
	size_t size = t->sections[i].size;

	if (!strcmp(name, "cpuid"))
		return (t->cpuid = fb_cpuid_parse(data, size)) ? 0 : -1;
	if (!strcmp(name, "vm")) {
		t->have_vm = 1;
		return fb_vm_state_parse(data, size, &t->vm);
	}
	if (!strcmp(name, "meta"))
		return parse_meta(t, data, size);
	if (!strcmp(name, "wset") || !strcmp(name, "wcopy")) {
		if (size != (t->mem_size / FB_TEMPLATE_PAGE_SIZE + 7) / 8)
			return fb_error("working set of %zu bytes for %llu pages", size,
					(unsigned long long)(t->mem_size / FB_TEMPLATE_PAGE_SIZE));
		*(name[1] == 's' ? &t->wset : &t->wcopy) = data;
		return 0;
	}
	if (!strncmp(name, "vcpu", 4))
		return parse_vcpu(t, name, data, size);
	if (!strncmp(name, "dev:", 4))
		return parse_device(t, name, data, size);
	return fb_error("unknown section");
}

static int parse_sections(struct fb_template *t)
{
	for (unsigned i = 0; i < t->nr_sections; i++)
		if (parse_section(t, i) < 0)
			return fb_error_prefix("%s: corrupt section '%s'", t->path,
					       t->sections[i].name);
	if (!t->cpuid || !t->nr_vcpus || !t->meta_text || !t->have_vm)
		return fb_error("%s: corrupt: required section missing", t->path);
	return 0;
}

static int open_file(struct fb_template *t, const char *path)
{
	t->fd = -1;
	t->path = strdup(path);
	if (!t->path)
		return fb_error("out of memory");
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0)
		return fb_error_errno("%s", path);
	struct stat st;
	if (fstat(t->fd, &st) < 0)
		return fb_error_errno("%s: fstat", path);
	if (!S_ISREG(st.st_mode))
		return fb_error("%s: not a regular file", path);
	t->file_size = (uint64_t)st.st_size;
	return 0;
}

int fb_template_open(const char *path, struct fb_template **out)
{
	struct fb_template *t = calloc(1, sizeof(*t));
	uint8_t *h = malloc(TMPL_HEADER_SIZE);
	int r = -1;
	if (!t || !h) {
		free(t);
		free(h);
		return fb_error("out of memory");
	}
	if (open_file(t, path) == 0 && read_header(t, h) == 0 && read_section_table(t, h) == 0 &&
	    read_sections(t) == 0 && parse_sections(t) == 0)
		r = 0;
	free(h);
	if (r < 0) {
		fb_template_close(t);
		return -1;
	}
	*out = t;
	return 0;
}

void fb_template_close(struct fb_template *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t->path);
	free(t->state);
	free(t->cpuid);
	free(t->vcpus);
	free(t->meta_text);
	free(t);
}

int fb_template_check_cpu(const struct fb_template *t, uint64_t host_fingerprint)
{
	if (fb_cpuid_check_fingerprint(t->fingerprint, host_fingerprint) < 0)
		return fb_error_prefix("%s", t->path);
	return 0;
}

int fb_template_check_host(const struct fb_template *t, int kvm_fd)
{
	struct kvm_cpuid2 *host;
	if (fb_cpuid_build(kvm_fd, &host) < 0)
		return fb_error_prefix("%s: CPU check", t->path);
	uint64_t fp = fb_cpuid_fingerprint(host);
	free(host);
	return fb_template_check_cpu(t, fp);
}

static void *map_region(const struct fb_template *t, int prot)
{
	void *p =
	    mmap(NULL, t->mem_size, prot, MAP_PRIVATE | MAP_NORESERVE, t->fd, (off_t)t->mem_offset);
	if (p == MAP_FAILED) {
		fb_error_errno("%s: mmap guest memory", t->path);
		return NULL;
	}
	return p;
}

int fb_template_verify_memory(const struct fb_template *t)
{
	void *p = map_region(t, PROT_READ);
	if (!p)
		return -1;
	madvise(p, t->mem_size, MADV_SEQUENTIAL);
	uint64_t sum = fb_hash64(p, t->mem_size, TMPL_CHECKSUM_SEED);
	munmap(p, t->mem_size);
	if (sum != t->mem_checksum)
		return fb_error("%s: corrupt guest memory (checksum %016llx, header says %016llx)",
				t->path, (unsigned long long)sum,
				(unsigned long long)t->mem_checksum);
	return 0;
}

int fb_template_map_memory(const struct fb_template *t, void **addr)
{
	void *p = map_region(t, PROT_READ | PROT_WRITE);
	if (!p)
		return -1;
	*addr = p;
	return 0;
}

const char *fb_template_path(const struct fb_template *t)
{
	return t->path;
}

int fb_template_fd(const struct fb_template *t)
{
	return t->fd;
}

uint32_t fb_template_version(const struct fb_template *t)
{
	return t->version;
}

uint64_t fb_template_cpuid_fingerprint(const struct fb_template *t)
{
	return t->fingerprint;
}

uint64_t fb_template_mem_size(const struct fb_template *t)
{
	return t->mem_size;
}

uint64_t fb_template_mem_offset(const struct fb_template *t)
{
	return t->mem_offset;
}

uint64_t fb_template_mem_nonzero_pages(const struct fb_template *t)
{
	return t->nonzero_pages;
}

uint64_t fb_template_file_size(const struct fb_template *t)
{
	return t->file_size;
}

const uint8_t *fb_template_wset(const struct fb_template *t)
{
	return t->wset;
}

const uint8_t *fb_template_wcopy(const struct fb_template *t)
{
	return t->wcopy;
}

const struct kvm_cpuid2 *fb_template_cpuid(const struct fb_template *t)
{
	return t->cpuid;
}

unsigned fb_template_nr_vcpus(const struct fb_template *t)
{
	return t->nr_vcpus;
}

const struct fb_vcpu_state *fb_template_vcpu(const struct fb_template *t, unsigned index)
{
	return index < t->nr_vcpus ? &t->vcpus[index] : NULL;
}

const struct fb_vm_state *fb_template_vm(const struct fb_template *t)
{
	return &t->vm;
}

int fb_template_device(const struct fb_template *t, const char *name, const void **data,
		       size_t *size)
{
	for (unsigned i = 0; i < t->nr_devices; i++) {
		if (!strcmp(t->devices[i].name, name)) {
			*data = t->devices[i].data;
			*size = t->devices[i].size;
			return 0;
		}
	}
	return fb_error("%s: no device state '%s'", t->path, name);
}

const char *fb_template_runtime(const struct fb_template *t)
{
	const char *v = fb_template_meta(t, "runtime");
	return v && *v ? v : "python";
}

const char *fb_template_meta(const struct fb_template *t, const char *key)
{
	for (unsigned i = 0; i < t->nr_meta; i++)
		if (!strcmp(t->meta_key[i], key))
			return t->meta_value[i];
	return NULL;
}

unsigned fb_template_nr_sections(const struct fb_template *t)
{
	return t->nr_sections;
}

const struct fb_template_section_info *fb_template_section(const struct fb_template *t,
							   unsigned index)
{
	return index < t->nr_sections ? &t->sections[index] : NULL;
}

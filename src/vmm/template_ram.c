/* Template memory in a sealed memfd: load (sparse copy), optional huge
 * pages and mlock, CoW mappings for forks, residency.
 *
 * A fork's mapping is anonymous memory with the memfd mapped over the 2 MiB
 * chunks that hold data: a guest touching a page of an empty chunk gets
 * anonymous zero memory, where a fault on a hole of the memfd would
 * allocate a page in the memfd itself (shmem fills holes on any fault), and
 * the template would grow towards the guest's whole memory over time. */
#include "vmm/template_ram.h"

#include "util/clock.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PAGE	   4096u
#define HUGE	   (2u << 20)
#define CHUNK	   HUGE /* copy unit: one huge page */
#define SEALS	   (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
#define MIB(bytes) ((unsigned long long)((bytes) >> 20))

struct fb_template_ram {
	int fd;
	uint64_t size;
	void *view;	  /* read-only shared mapping: residency, mlock */
	uint8_t *chunks;  /* per 2 MiB chunk: 1 if it holds data */
	uint64_t nchunks; /* size / 2 MiB, rounded up */
	uint64_t data_chunks;
	uint64_t huge_bytes;
	bool locked;
	double load_ms;
};

/* mmap with the start 2 MiB aligned: reserve more, map over the aligned
 * part, give back the rest. */
static void *map_aligned(int fd, uint64_t size, int prot, int flags)
{
	size_t span = size + HUGE;
	uint8_t *res =
	    mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	uintptr_t start = ((uintptr_t)res + HUGE - 1) & ~(uintptr_t)(HUGE - 1);
	void *p = mmap((void *)start, size, prot, flags | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		int err = errno;
		munmap(res, span);
		errno = err;
		return MAP_FAILED;
	}
	if (start > (uintptr_t)res)
		munmap(res, start - (uintptr_t)res);
	uintptr_t end = start + size, res_end = (uintptr_t)res + span;
	if (res_end > end)
		munmap((void *)end, res_end - end);
	return p;
}

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[PAGE];
	return memcmp(p, zero, PAGE) == 0;
}

/* Copy [off, off+len) of the memory (file offset base+off) into dst,
 * skipping zero pages so they stay holes. */
static int copy_range(struct fb_template_ram *ram, int file_fd, uint64_t base, uint8_t *dst,
		      uint8_t *buf, uint64_t off, uint64_t len)
{
	while (len) {
		size_t n = len < CHUNK - off % CHUNK ? (size_t)len : CHUNK - off % CHUNK;
		ssize_t got = pread(file_fd, buf, n, (off_t)(base + off));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return fb_error_errno("read template memory at %llu",
					      (unsigned long long)(base + off));
		if (got == 0)
			return fb_error("template memory ends early at %llu",
					(unsigned long long)(base + off));
		for (size_t i = 0; i < (size_t)got; i += PAGE) {
			size_t m = (size_t)got - i < PAGE ? (size_t)got - i : PAGE;
			if (m == PAGE && page_is_zero(buf + i))
				continue;
			memcpy(dst + off + i, buf + i, m);
			ram->chunks[(off + i) / HUGE] = 1;
		}
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	return 0;
}

/* Next data extent at or after off (SEEK_DATA and SEEK_HOLE; without them,
 * everything is data). Returns 0 with start and end set, or 1 when none is left. */
static int next_extent(int fd, uint64_t base, uint64_t size, uint64_t off, uint64_t *start,
		       uint64_t *end)
{
	off_t d = lseek(fd, (off_t)(base + off), SEEK_DATA);
	if (d < 0) {
		if (errno == ENXIO)
			return 1;
		*start = off;
		*end = size;
		return 0;
	}
	if ((uint64_t)d >= base + size)
		return 1;
	off_t h = lseek(fd, d, SEEK_HOLE);
	*start = (uint64_t)d - base;
	*end = h < 0 || (uint64_t)h > base + size ? size : (uint64_t)h - base;
	return 0;
}

static int fill(struct fb_template_ram *ram, const struct fb_template *t, uint8_t *dst)
{
	int file_fd = fb_template_fd(t);
	uint64_t base = fb_template_mem_offset(t);
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		return fb_error("out of memory");
	posix_fadvise(file_fd, (off_t)base, (off_t)ram->size, POSIX_FADV_SEQUENTIAL);
	int rc = 0;
	uint64_t off = 0, start, end;
	while (rc == 0 && off < ram->size &&
	       next_extent(file_fd, base, ram->size, off, &start, &end) == 0) {
		rc = copy_range(ram, file_fd, base, dst, buf, start, end - start);
		off = end;
	}
	free(buf);
	return rc;
}

/* Collapse each 2 MiB chunk holding data into one huge page (MADV_COLLAPSE
 * works whatever shmem_enabled says); empty chunks stay holes. */
static void collapse_huge(struct fb_template_ram *ram, uint8_t *map)
{
	madvise(map, ram->size, MADV_HUGEPAGE);
	for (uint64_t i = 0; i < ram->nchunks; i++) {
		if (!ram->chunks[i] || (i + 1) * HUGE > ram->size)
			continue;
		if (madvise(map + i * HUGE, HUGE, MADV_COLLAPSE) == 0)
			ram->huge_bytes += HUGE;
	}
}

/* mlock the chunks holding data (locking a hole would allocate it). */
static int lock_data(struct fb_template_ram *ram)
{
	uint64_t locked = 0;
	for (uint64_t i = 0; i < ram->nchunks; i++) {
		if (!ram->chunks[i])
			continue;
		uint64_t len = ram->size - i * HUGE < HUGE ? ram->size - i * HUGE : HUGE;
		if (mlock((uint8_t *)ram->view + i * HUGE, len) < 0) {
			struct rlimit rl = {0};
			getrlimit(RLIMIT_MEMLOCK, &rl);
			return fb_error_errno("mlock template memory (%llu MiB locked, limit "
					      "RLIMIT_MEMLOCK %llu KiB; raise it, e.g. systemd "
					      "LimitMEMLOCK=infinity, or turn template.lock_memory "
					      "off)",
					      MIB(locked),
					      (unsigned long long)(rl.rlim_cur / 1024));
		}
		locked += len;
	}
	ram->locked = true;
	return 0;
}

static int create_memfd(struct fb_template_ram *ram, const struct fb_template *t,
			const struct fb_template_ram_options *o)
{
	ram->fd = memfd_create("forkbox-template", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (ram->fd < 0)
		return fb_error_errno("memfd_create");
	if (ftruncate(ram->fd, (off_t)ram->size) < 0)
		return fb_error_errno("ftruncate template memfd to %llu MiB", MIB(ram->size));
	uint8_t *map = map_aligned(ram->fd, ram->size, PROT_READ | PROT_WRITE, MAP_SHARED);
	if (map == MAP_FAILED)
		return fb_error_errno("mmap template memfd");
	int rc = fill(ram, t, map);
	for (uint64_t i = 0; i < ram->nchunks; i++)
		ram->data_chunks += ram->chunks[i];
	if (rc == 0 && o->huge_pages)
		collapse_huge(ram, map);
	munmap(map, ram->size);
	if (rc < 0)
		return -1;
	/* No writable shared mapping is left: seal the contents for good. */
	if (fcntl(ram->fd, F_ADD_SEALS, SEALS) < 0)
		return fb_error_errno("seal template memfd");
	return 0;
}

int fb_template_ram_load(const struct fb_template *t, const struct fb_template_ram_options *opts,
			 struct fb_template_ram **out)
{
	struct fb_template_ram *ram = calloc(1, sizeof(*ram));
	if (!ram)
		return fb_error("out of memory");
	double t0 = fb_clock_ms();
	ram->fd = -1;
	ram->view = MAP_FAILED;
	ram->size = fb_template_mem_size(t);
	ram->nchunks = (ram->size + HUGE - 1) / HUGE;
	ram->chunks = calloc(ram->nchunks, 1);
	int rc = ram->chunks ? create_memfd(ram, t, opts) : fb_error("out of memory");
	if (rc == 0) {
		ram->view = map_aligned(ram->fd, ram->size, PROT_READ, MAP_SHARED);
		if (ram->view == MAP_FAILED)
			rc = fb_error_errno("mmap template memfd");
	}
	if (rc == 0 && opts->lock)
		rc = lock_data(ram);
	if (rc < 0) {
		fb_error_prefix("load template memory into RAM");
		fb_template_ram_close(ram);
		return -1;
	}
	ram->load_ms = fb_clock_ms() - t0;
	*out = ram;
	return 0;
}

void fb_template_ram_close(struct fb_template_ram *ram)
{
	if (!ram)
		return;
	if (ram->view != MAP_FAILED)
		munmap(ram->view, ram->size);
	if (ram->fd >= 0)
		close(ram->fd);
	free(ram->chunks);
	free(ram);
}

/* Maps each run of data chunks of the memfd over the anonymous base. */
static int map_data_runs(const struct fb_template_ram *ram, uint8_t *base)
{
	for (uint64_t i = 0; i < ram->nchunks;) {
		if (!ram->chunks[i]) {
			i++;
			continue;
		}
		uint64_t start = i;
		while (i < ram->nchunks && ram->chunks[i])
			i++;
		uint64_t off = start * HUGE;
		uint64_t len = (i * HUGE < ram->size ? i * HUGE : ram->size) - off;
		if (mmap(base + off, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED, ram->fd,
			 (off_t)off) == MAP_FAILED)
			return -1;
	}
	return 0;
}

int fb_template_ram_map(const struct fb_template_ram *ram, void **addr)
{
	uint8_t *base = map_aligned(-1, ram->size, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
	if (base == MAP_FAILED)
		return fb_error_errno("mmap guest memory");
	if (map_data_runs(ram, base) < 0) {
		int err = errno;
		munmap(base, ram->size);
		errno = err;
		return fb_error_errno("mmap template memory (copy on write)");
	}
	*addr = base;
	return 0;
}

uint64_t fb_template_ram_data_bytes(const struct fb_template_ram *ram)
{
	return ram->data_chunks * HUGE;
}

uint64_t fb_template_ram_size(const struct fb_template_ram *ram)
{
	return ram->size;
}

int fb_template_ram_fd(const struct fb_template_ram *ram)
{
	return ram->fd;
}

static uint64_t resident_bytes(const struct fb_template_ram *ram)
{
	size_t pages = (size_t)((ram->size + PAGE - 1) / PAGE);
	unsigned char *vec = malloc(pages);
	uint64_t n = 0;
	if (!vec || mincore(ram->view, ram->size, vec) < 0) {
		free(vec);
		return 0;
	}
	for (size_t i = 0; i < pages; i++)
		n += vec[i] & 1;
	free(vec);
	return n * PAGE;
}

void fb_template_ram_info(const struct fb_template_ram *ram, struct fb_template_ram_info *info)
{
	*info = (struct fb_template_ram_info){.size = ram->size,
					      .resident_bytes = resident_bytes(ram),
					      .huge_bytes = ram->huge_bytes,
					      .locked = ram->locked,
					      .huge_pages = ram->huge_bytes > 0,
					      .load_ms = ram->load_ms};
}

/* /proc/self/pagemap: one 64-bit entry per virtual page; bit 63 present,
 * bit 61 file page or shared anonymous (a template page), else a private
 * anonymous page (a copy). Flags are readable without privileges. */
#include "vmm/guest_pages.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define PM_PRESENT (1ull << 63)
#define PM_FILE	   (1ull << 61)
#define BATCH	   8192 /* entries per read: 32 MiB of guest memory */

typedef void (*page_fn)(void *ctx, uint64_t index, uint64_t entry);

/* Opened once per process by fb_guest_pages_open(), before a seccomp
 * filter that forbids open() (a forked process must open its own); after
 * a failed try in this process, never again (the filter may be on). */
static int pagemap_fd = -1;
static pid_t pagemap_pid, failed_pid;

/* A process that made itself not dumpable (forkbox-fcgi's hardening) has
 * its /proc/self files owned by root: it may not open them. Dumpable for
 * the moment of the open, then not again; nothing runs in between. */
static int open_pagemap(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || errno != EACCES || prctl(PR_GET_DUMPABLE) != 0)
		return fd;
	if (prctl(PR_SET_DUMPABLE, 1) < 0)
		return -1;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int saved = errno;
	if (prctl(PR_SET_DUMPABLE, 0) < 0) {
		if (fd >= 0)
			close(fd);
		return -1; /* stay safe: no page counts */
	}
	errno = saved;
	return fd;
}

int fb_guest_pages_open(void)
{
	pid_t pid = getpid();
	if (pagemap_fd >= 0 && pagemap_pid == pid)
		return 0;
	if (failed_pid == pid)
		return fb_error("/proc/self/pagemap could not be opened");
	int fd = open_pagemap();
	if (fd < 0) {
		failed_pid = pid;
		return fb_error_errno("open /proc/self/pagemap");
	}
	if (pagemap_fd >= 0)
		close(pagemap_fd); /* the parent's, inherited */
	pagemap_fd = fd;
	pagemap_pid = pid;
	return 0;
}

static int scan(const void *mem, uint64_t size, page_fn fn, void *ctx)
{
	if (fb_guest_pages_open() < 0)
		return -1;
	int fd = pagemap_fd;
	static __thread uint64_t buf[BATCH];
	uint64_t first = (uint64_t)(uintptr_t)mem / FB_GUEST_PAGE_SIZE;
	uint64_t pages = size / FB_GUEST_PAGE_SIZE;
	int rc = 0;
	for (uint64_t done = 0; done < pages && rc == 0;) {
		uint64_t want = pages - done < BATCH ? pages - done : BATCH;
		ssize_t n = pread(fd, buf, want * sizeof(uint64_t),
				  (off_t)((first + done) * sizeof(uint64_t)));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? fb_error_errno("read /proc/self/pagemap")
				   : fb_error("read /proc/self/pagemap: end of file");
			break;
		}
		uint64_t got = (uint64_t)n / sizeof(uint64_t);
		for (uint64_t i = 0; i < got; i++)
			if (buf[i] & PM_PRESENT)
				fn(ctx, done + i, buf[i]);
		done += got;
	}
	return rc;
}

static void count_page(void *ctx, uint64_t index, uint64_t entry)
{
	struct fb_guest_page_counts *c = ctx;
	(void)index;
	if (entry & PM_FILE)
		c->shared++;
	else
		c->copied++;
}

int fb_guest_pages_count(const void *mem, uint64_t size, struct fb_guest_page_counts *counts)
{
	*counts = (struct fb_guest_page_counts){0};
	return scan(mem, size, count_page, counts);
}

int fb_guest_pages_no_fault_around(void *mem, uint64_t size)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		return fb_error_errno("userfaultfd");
	struct uffdio_api api = {.api = UFFD_API};
	struct uffdio_register reg = {.range = {.start = (uintptr_t)mem, .len = size},
				      .mode = UFFDIO_REGISTER_MODE_WP};
	const char *what = "UFFDIO_API";
	int rc = ioctl(fd, UFFDIO_API, &api);
	if (rc == 0) {
		what = "UFFDIO_REGISTER (write-protect mode) of guest memory";
		rc = ioctl(fd, UFFDIO_REGISTER, &reg);
	}
	if (rc < 0) {
		fb_error_errno("%s", what);
		close(fd);
		return -1;
	}
	return fd;
}

struct mark_ctx {
	uint8_t *shared, *copied;
};

static void mark_page(void *ctx, uint64_t index, uint64_t entry)
{
	struct mark_ctx *m = ctx;
	uint8_t *bits = entry & PM_FILE ? m->shared : m->copied;
	if (bits)
		bits[index / 8] |= (uint8_t)(1u << (index % 8));
}

int fb_guest_pages_mark(const void *mem, uint64_t size, uint8_t *shared, uint8_t *copied)
{
	struct mark_ctx m = {shared, copied};
	return scan(mem, size, mark_page, &m);
}

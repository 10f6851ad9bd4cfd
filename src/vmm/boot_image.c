#include "vmm/boot_image.h"

#include "util/error.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int map_file(const char *path, const void **data, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fb_error_errno("open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		fb_error_errno("stat %s", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return fb_error("%s: not a non-empty regular file", path);
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return fb_error_errno("mmap %s", path);
	*data = p;
	*size = (size_t)st.st_size;
	return 0;
}

/* "cmdline" beside the kernel, first line only; 0 if there is none. */
static int read_cmdline_beside(const char *kernel, char *out, size_t cap)
{
	char path[4096];
	const char *slash = strrchr(kernel, '/');
	int dir_len = slash ? (int)(slash - kernel + 1) : 0;
	snprintf(path, sizeof(path), "%.*scmdline", dir_len, kernel);
	FILE *fp = fopen(path, "re");
	if (!fp)
		return 0;
	int found = fgets(out, (int)cap, fp) != NULL;
	fclose(fp);
	out[strcspn(out, "\r\n")] = '\0';
	return found && out[0];
}

void fb_boot_base_cmdline(const char *kernel, char *out, size_t cap)
{
	if (!read_cmdline_beside(kernel, out, cap))
		snprintf(out, cap, "%s", FB_BOOT_DEFAULT_CMDLINE);
}

static int build_cmdline(struct fb_boot_files *f, const char *kernel, const char *cmdline,
			 const char *extra)
{
	if (cmdline)
		snprintf(f->cmdline, sizeof(f->cmdline), "%s", cmdline);
	else
		fb_boot_base_cmdline(kernel, f->cmdline, sizeof(f->cmdline));
	if (cmdline && strlen(cmdline) >= sizeof(f->cmdline))
		return fb_error("kernel command line longer than %d bytes",
				FB_BOOT_CMDLINE_MAX - 1);
	if (extra && !strstr(f->cmdline, extra)) {
		size_t len = strlen(f->cmdline);
		if (len + 1 + strlen(extra) >= sizeof(f->cmdline))
			return fb_error("kernel command line longer than %d bytes",
					FB_BOOT_CMDLINE_MAX - 1);
		snprintf(f->cmdline + len, sizeof(f->cmdline) - len, "%s%s", len ? " " : "", extra);
	}
	f->img.cmdline = f->cmdline;
	return 0;
}

int fb_boot_files_open(struct fb_boot_files *f, const char *kernel, const char *initramfs,
		       const char *cmdline, const char *extra)
{
	memset(f, 0, sizeof(*f));
	if (map_file(kernel, &f->img.kernel, &f->img.kernel_size) < 0)
		return fb_error_prefix("kernel");
	f->kernel_map_size = f->img.kernel_size;
	if (initramfs) {
		if (map_file(initramfs, &f->img.initramfs, &f->img.initramfs_size) < 0) {
			fb_error_prefix("initramfs");
			fb_boot_files_close(f);
			return -1;
		}
		f->initramfs_map_size = f->img.initramfs_size;
	}
	if (build_cmdline(f, kernel, cmdline, extra) < 0) {
		fb_boot_files_close(f);
		return -1;
	}
	return 0;
}

/* Reads every part into one buffer, then the extra bytes. */
static int compose_initramfs(struct fb_boot_files *f, const char *const *parts, size_t n,
			     const void *extra, size_t extra_len)
{
	size_t total = extra_len + 4;
	for (size_t i = 0; i < n; i++) {
		const void *data;
		size_t size;
		if (map_file(parts[i], &data, &size) < 0)
			return fb_error_prefix("initramfs");
		munmap((void *)data, size);
		total += size;
	}
	uint8_t *buf = malloc(total);
	if (!buf)
		return fb_error("initramfs: out of memory (%zu bytes)", total);
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		const void *data;
		size_t size;
		if (map_file(parts[i], &data, &size) < 0 || len + size > total) {
			free(buf);
			return fb_error_prefix("initramfs (%s changed while read)", parts[i]);
		}
		memcpy(buf + len, data, size);
		len += size;
		munmap((void *)data, size);
	}
	/* An uncompressed archive must start 4-byte aligned; NULs between
	 * archives are skipped. */
	while (extra_len && len % 4)
		buf[len++] = 0;
	if (extra_len)
		memcpy(buf + len, extra, extra_len);
	f->initramfs_buf = buf;
	f->img.initramfs = buf;
	f->img.initramfs_size = len + extra_len;
	return 0;
}

int fb_boot_files_open_parts(struct fb_boot_files *f, const char *kernel, const char *const *parts,
			     size_t n, const void *extra, size_t extra_len, const char *cmdline,
			     const char *cmdline_extra)
{
	if (fb_boot_files_open(f, kernel, NULL, cmdline, cmdline_extra) < 0)
		return -1;
	if (compose_initramfs(f, parts, n, extra, extra_len) < 0) {
		fb_boot_files_close(f);
		return -1;
	}
	return 0;
}

void fb_boot_files_close(struct fb_boot_files *f)
{
	free(f->initramfs_buf);
	f->initramfs_buf = NULL;
	if (f->img.kernel)
		munmap((void *)f->img.kernel, f->kernel_map_size);
	if (f->img.initramfs && f->initramfs_map_size)
		munmap((void *)f->img.initramfs, f->initramfs_map_size);
	memset(f, 0, sizeof(*f));
}

/* Reading KVM's binary statistics file: header, descriptors (name, offset,
 * size), then the data block (Documentation/virt/kvm/api.rst, "KVM binary
 * statistics"). */
#include "vmm/kvm_stats.h"

#include "util/error.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_DESCS     4096
#define MAX_NAME_SIZE 256
#define MAX_DATA      (1u << 20)

bool fb_kvm_stats_supported(int kvm_fd)
{
	return ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) > 0;
}

static int read_exact(int fd, void *buf, size_t len, off_t off)
{
	ssize_t n;
	do
		n = pread(fd, buf, len, off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fb_error_errno("read KVM statistics");
	if ((size_t)n != len)
		return fb_error("read KVM statistics: short read");
	return 0;
}

static bool wanted(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* Data block size: past the end of the last counter. */
static size_t data_size(const uint8_t *descs, const struct kvm_stats_header *h, size_t desc_len)
{
	size_t end = 0;
	for (uint32_t i = 0; i < h->num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * desc_len);
		size_t e = (size_t)d->offset + (size_t)d->size * 8;
		if (e > end)
			end = e;
	}
	return end;
}

static int collect(int sfd, const struct kvm_stats_header *h, const char *const *names, size_t n,
		   struct fb_kvm_stat *out, size_t cap)
{
	size_t desc_len = sizeof(struct kvm_stats_desc) + h->name_size;
	uint8_t *descs = malloc(desc_len * h->num_desc);
	uint8_t *data = NULL;
	int got = -1;
	if (!descs) {
		fb_error("out of memory");
		goto out;
	}
	if (read_exact(sfd, descs, desc_len * h->num_desc, h->desc_offset) < 0)
		goto out;
	size_t dsize = data_size(descs, h, desc_len);
	if (dsize > MAX_DATA || !(data = malloc(dsize ? dsize : 1))) {
		fb_error("KVM statistics: data block of %zu bytes", dsize);
		goto out;
	}
	if (read_exact(sfd, data, dsize, h->data_offset) < 0)
		goto out;
	got = 0;
	for (uint32_t i = 0; i < h->num_desc && (size_t)got < cap; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + i * desc_len);
		char name[MAX_NAME_SIZE + 1];
		memcpy(name, d->name, h->name_size);
		name[h->name_size] = '\0';
		if (d->size < 1 || !wanted(name, names, n))
			continue;
		snprintf(out[got].name, sizeof(out[got].name), "%.31s", name);
		memcpy(&out[got].value, data + d->offset, sizeof(uint64_t));
		got++;
	}
out:
	free(descs);
	free(data);
	return got;
}

int fb_kvm_stats_read(int fd, const char *const *names, size_t n, struct fb_kvm_stat *out,
		      size_t cap)
{
	int sfd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	if (sfd < 0)
		return fb_error_errno("KVM_GET_STATS_FD");
	struct kvm_stats_header h;
	int got = read_exact(sfd, &h, sizeof(h), 0);
	if (got == 0 && (h.num_desc > MAX_DESCS || h.name_size == 0 || h.name_size > MAX_NAME_SIZE))
		got = fb_error("KVM statistics: unexpected header (%u descriptors, names of %u)",
			       h.num_desc, h.name_size);
	if (got == 0)
		got = collect(sfd, &h, names, n, out, cap);
	close(sfd);
	return got;
}

int64_t fb_kvm_stat_value(const struct fb_kvm_stat *stats, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(stats[i].name, name) == 0)
			return (int64_t)stats[i].value;
	return -1;
}

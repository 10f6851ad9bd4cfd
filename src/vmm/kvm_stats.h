/* KVM's binary statistics (KVM_GET_STATS_FD, Linux 5.14+): named counters
 * of one VM or one vCPU, such as exits by reason, page faults and the
 * pages KVM has mapped for the guest. Read them before the VM is destroyed:
 * they live and die with it. */
#ifndef FORKBOX_VMM_KVM_STATS_H
#define FORKBOX_VMM_KVM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_KVM_STAT_NAME_MAX 32

struct fb_kvm_stat {
	char name[FB_KVM_STAT_NAME_MAX];
	uint64_t value;
};

/* Whether /dev/kvm (kvm_fd) offers KVM_CAP_BINARY_STATS_FD. */
bool fb_kvm_stats_supported(int kvm_fd);

/* For each of names[0..n) that the VM or vCPU fd reports, appends
 * {name, value} to out (at most cap entries); returns how many were
 * appended, or -1 with fb_error_last() set. */
int fb_kvm_stats_read(int fd, const char *const *names, size_t n, struct fb_kvm_stat *out,
		      size_t cap);

/* The value of name in stats[0..n), or -1 if absent. */
int64_t fb_kvm_stat_value(const struct fb_kvm_stat *stats, size_t n, const char *name);

#endif

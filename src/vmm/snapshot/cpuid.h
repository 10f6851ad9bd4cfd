/* The CPUID a forkbox guest sees: what KVM supports on this host, normalized
 * to one single-socket, single-core, single-thread vCPU with the hypervisor
 * bit and KVM paravirt leaves present.
 *
 * Templates store the CPUID their guest booted with plus its fingerprint; a
 * fork refuses a template built on a host whose normalized CPUID differs. */
#ifndef FORKBOX_VMM_SNAPSHOT_CPUID_H
#define FORKBOX_VMM_SNAPSHOT_CPUID_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* Most CPUID entries forkbox accepts (KVM's own limit is 256 today). */
#define FB_CPUID_MAX_ENTRIES 1024

/* KVM_GET_SUPPORTED_CPUID on kvm_fd (/dev/kvm), normalized. *out is
 * malloc'ed (free() it). Returns 0, or -1 with fb_error_last() set. */
int fb_cpuid_build(int kvm_fd, struct kvm_cpuid2 **out);

/* Normalize a CPUID table in place (what fb_cpuid_build() applies); exposed
 * for tests. May drop entries and adds at most one (the KVM signature leaf
 * 0x40000000 when missing): *cpuid must have room for nent + 1 entries. */
void fb_cpuid_normalize(struct kvm_cpuid2 *cpuid);

/* Stable, order-independent 64-bit hash of the entries. */
uint64_t fb_cpuid_fingerprint(const struct kvm_cpuid2 *cpuid);

/* 0 when equal; else -1 with "template was built on a different CPU
 * (fingerprint X, this host Y); rebuild it with `forkbox template build`". */
int fb_cpuid_check_fingerprint(uint64_t template_fp, uint64_t host_fp);

/* Copy of a CPUID table (malloc'ed, sized for its entries), or NULL. */
struct kvm_cpuid2 *fb_cpuid_dup(const struct kvm_cpuid2 *cpuid);

/* Size in bytes of a kvm_cpuid2 with nent entries. */
size_t fb_cpuid_size(uint32_t nent);

/* Flat little-endian form: u32 nent, u32 0, nent x 40-byte entries
 * (function, index, flags, eax, ebx, ecx, edx, 3 x u32 0).
 * fb_cpuid_serialize() returns a malloc'ed buffer (size in *len) or NULL;
 * fb_cpuid_parse() checks every length and returns a malloc'ed table or
 * NULL with fb_error_last() set. */
void *fb_cpuid_serialize(const struct kvm_cpuid2 *cpuid, size_t *len);
struct kvm_cpuid2 *fb_cpuid_parse(const void *data, size_t len);

#endif

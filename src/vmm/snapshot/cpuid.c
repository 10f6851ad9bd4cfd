/* KVM_GET_SUPPORTED_CPUID, normalized to one vCPU of one socket. */
#include "vmm/snapshot/cpuid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/error.h"
#include "vmm/snapshot/hash.h"

#define CPUID_ENTRY_BYTES 40u

#define LEAF1_ECX_OSXSAVE    (1u << 27)
#define LEAF1_ECX_HYPERVISOR (1u << 31)
#define LEAF1_EDX_HTT	     (1u << 28)
#define EXT1_ECX_CMP_LEGACY  (1u << 1)
#define KVM_SIGNATURE_EBX    0x4b4d564bu /* "KVMKVMKVM\0\0\0" */
#define KVM_SIGNATURE_ECX    0x564b4d56u
#define KVM_SIGNATURE_EDX    0x0000004du

size_t fb_cpuid_size(uint32_t nent)
{
	return sizeof(struct kvm_cpuid2) + (size_t)nent * sizeof(struct kvm_cpuid_entry2);
}

/* Ask with 64 entries, doubling while KVM answers E2BIG. One spare entry is
 * kept for fix_kvm_leaves(). */
static struct kvm_cpuid2 *get_supported(int kvm_fd)
{
	for (uint32_t nent = 64; nent <= FB_CPUID_MAX_ENTRIES; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, fb_cpuid_size(nent + 1));
		if (!c) {
			fb_error("out of memory");
			return NULL;
		}
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		int err = errno;
		free(c);
		if (err != E2BIG) {
			errno = err;
			fb_error_errno("KVM_GET_SUPPORTED_CPUID");
			return NULL;
		}
	}
	fb_error("KVM_GET_SUPPORTED_CPUID: more than %d entries", FB_CPUID_MAX_ENTRIES);
	return NULL;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == function && c->entries[i].index == index)
			return &c->entries[i];
	return NULL;
}

static void drop_entry(struct kvm_cpuid2 *c, uint32_t i)
{
	memmove(&c->entries[i], &c->entries[i + 1], (c->nent - i - 1) * sizeof(c->entries[0]));
	c->nent--;
}

/* Leaf 1: APIC ID 0, one logical processor, hypervisor present; OSXSAVE is
 * computed by KVM from the guest's CR4. */
static void fix_leaf1(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = find(c, 1, 0);
	if (!e)
		return;
	e->ebx &= 0x0000ffffu;
	e->ebx |= 1u << 16;
	e->ecx |= LEAF1_ECX_HYPERVISOR;
	e->ecx &= ~LEAF1_ECX_OSXSAVE;
	e->edx &= ~LEAF1_EDX_HTT;
}

/* Leaf 4 / 0x8000001D: no other core or thread shares any cache. */
static void fix_cache_leaves(struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 4)
			e->eax &= ~(0x3fu << 26 | 0xfffu << 14);
		else if (e->function == 0x8000001d)
			e->eax &= ~(0xfffu << 14);
	}
}

/* Leaves 0xB and 0x1F: level 0 SMT with one thread, level 1 core with one
 * core, then the invalid terminator; x2APIC ID 0. */
static void fix_topology_leaf(struct kvm_cpuid2 *c, uint32_t function)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != function)
			continue;
		uint32_t type = e->index == 0 ? 1 : e->index == 1 ? 2 : 0;
		e->eax = 0;
		e->ebx = type ? 1 : 0;
		e->ecx = type << 8 | (e->index & 0xff);
		e->edx = 0;
	}
}

/* AMD: one core, no legacy multi-core, extended APIC ID 0. */
static void fix_amd_leaves(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = find(c, 0x80000008, 0);
	if (e)
		e->ecx &= ~0xf0ffu;
	e = find(c, 0x80000001, 0);
	if (e)
		e->ecx &= ~EXT1_ECX_CMP_LEGACY;
	e = find(c, 0x8000001e, 0);
	if (e) {
		e->eax = 0;
		e->ebx &= ~0xff00u;
		e->ecx &= ~0x700u;
	}
}

/* Leaf 0xD: keep only the state components KVM supports (XCR0 in subleaf 0
 * EDX:EAX, XSS in subleaf 1 EDX:ECX). */
static void fix_xsave_leaf(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *s0 = find(c, 0xd, 0);
	struct kvm_cpuid_entry2 *s1 = find(c, 0xd, 1);
	uint64_t mask = s0 ? ((uint64_t)s0->edx << 32 | s0->eax) : 0;
	if (s1)
		mask |= (uint64_t)s1->edx << 32 | s1->ecx;
	for (uint32_t i = 0; i < c->nent;) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		int unused = e->function == 0xd && e->index >= 2 &&
			     (e->index >= 64 || !(mask & (1ull << e->index)) || e->eax == 0);
		if (unused)
			drop_entry(c, i);
		else
			i++;
	}
}

/* KVM paravirt leaves: signature at 0x40000000 (KVM reports them; add the
 * signature if a host left it out so the guest finds kvmclock). */
static void fix_kvm_leaves(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = find(c, 0x40000000, 0);
	if (!e) {
		e = &c->entries[c->nent++];
		memset(e, 0, sizeof(*e));
		e->function = 0x40000000;
		e->eax = find(c, 0x40000001, 0) ? 0x40000001 : 0x40000000;
	}
	e->ebx = KVM_SIGNATURE_EBX;
	e->ecx = KVM_SIGNATURE_ECX;
	e->edx = KVM_SIGNATURE_EDX;
}

void fb_cpuid_normalize(struct kvm_cpuid2 *cpuid)
{
	fix_leaf1(cpuid);
	fix_cache_leaves(cpuid);
	fix_topology_leaf(cpuid, 0xb);
	fix_topology_leaf(cpuid, 0x1f);
	fix_amd_leaves(cpuid);
	fix_xsave_leaf(cpuid);
	fix_kvm_leaves(cpuid);
}

int fb_cpuid_build(int kvm_fd, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c = get_supported(kvm_fd);
	if (!c)
		return -1;
	fb_cpuid_normalize(c);
	*out = c;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct kvm_cpuid_entry2 *x = a, *y = b;
	if (x->function != y->function)
		return x->function < y->function ? -1 : 1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* x86: already little-endian */
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void entry_bytes(const struct kvm_cpuid_entry2 *e, uint8_t out[CPUID_ENTRY_BYTES])
{
	memset(out, 0, CPUID_ENTRY_BYTES);
	put32(out, e->function);
	put32(out + 4, e->index);
	put32(out + 8, e->flags);
	put32(out + 12, e->eax);
	put32(out + 16, e->ebx);
	put32(out + 20, e->ecx);
	put32(out + 24, e->edx);
}

uint64_t fb_cpuid_fingerprint(const struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid2 *sorted = fb_cpuid_dup(cpuid);
	if (!sorted)
		return 0;
	qsort(sorted->entries, sorted->nent, sizeof(sorted->entries[0]), cmp_entry);
	uint64_t h = fb_hash64(&sorted->nent, sizeof(sorted->nent), 0);
	for (uint32_t i = 0; i < sorted->nent; i++) {
		uint8_t b[CPUID_ENTRY_BYTES];
		entry_bytes(&sorted->entries[i], b);
		h = fb_hash64(b, sizeof(b), h);
	}
	free(sorted);
	return h;
}

int fb_cpuid_check_fingerprint(uint64_t template_fp, uint64_t host_fp)
{
	if (template_fp == host_fp)
		return 0;
	return fb_error("template was built on a different CPU (fingerprint %016llx, this host "
			"%016llx); rebuild it with `forkbox template build`",
			(unsigned long long)template_fp, (unsigned long long)host_fp);
}

struct kvm_cpuid2 *fb_cpuid_dup(const struct kvm_cpuid2 *cpuid)
{
	size_t size = fb_cpuid_size(cpuid->nent);
	struct kvm_cpuid2 *c = malloc(size);
	if (!c) {
		fb_error("out of memory");
		return NULL;
	}
	memcpy(c, cpuid, size);
	return c;
}

void *fb_cpuid_serialize(const struct kvm_cpuid2 *cpuid, size_t *len)
{
	size_t size = 8 + (size_t)cpuid->nent * CPUID_ENTRY_BYTES;
	uint8_t *buf = calloc(1, size);
	if (!buf) {
		fb_error("out of memory");
		return NULL;
	}
	put32(buf, cpuid->nent);
	for (uint32_t i = 0; i < cpuid->nent; i++)
		entry_bytes(&cpuid->entries[i], buf + 8 + (size_t)i * CPUID_ENTRY_BYTES);
	*len = size;
	return buf;
}

struct kvm_cpuid2 *fb_cpuid_parse(const void *data, size_t len)
{
	const uint8_t *p = data;
	if (len < 8)
		goto bad;
	uint32_t nent = get32(p);
	if (get32(p + 4) != 0 || nent > FB_CPUID_MAX_ENTRIES ||
	    len != 8 + (size_t)nent * CPUID_ENTRY_BYTES)
		goto bad;
	struct kvm_cpuid2 *c = calloc(1, fb_cpuid_size(nent));
	if (!c) {
		fb_error("out of memory");
		return NULL;
	}
	c->nent = nent;
	for (uint32_t i = 0; i < nent; i++) {
		const uint8_t *e = p + 8 + (size_t)i * CPUID_ENTRY_BYTES;
		c->entries[i] = (struct kvm_cpuid_entry2){.function = get32(e),
							  .index = get32(e + 4),
							  .flags = get32(e + 8),
							  .eax = get32(e + 12),
							  .ebx = get32(e + 16),
							  .ecx = get32(e + 20),
							  .edx = get32(e + 24)};
	}
	return c;
bad:
	fb_error("CPUID table: bad length (%zu bytes)", len);
	return NULL;
}

/* XXH64, from the published xxHash specification. */
#include "vmm/snapshot/hash.h"

#include <string.h>

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* x86 is little-endian, which is the byte order XXH64 reads in. */
static inline uint64_t read64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t read32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t round64(uint64_t acc, uint64_t lane)
{
	acc += lane * P2;
	return rotl(acc, 31) * P1;
}

static inline uint64_t merge(uint64_t acc, uint64_t v)
{
	acc ^= round64(0, v);
	return acc * P1 + P4;
}

static uint64_t stripes(const uint8_t **pp, const uint8_t *end, uint64_t seed)
{
	const uint8_t *p = *pp;
	uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;

	while (end - p >= 32) {
		v1 = round64(v1, read64(p));
		v2 = round64(v2, read64(p + 8));
		v3 = round64(v3, read64(p + 16));
		v4 = round64(v4, read64(p + 24));
		p += 32;
	}
	*pp = p;
	uint64_t acc = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
	acc = merge(acc, v1);
	acc = merge(acc, v2);
	acc = merge(acc, v3);
	return merge(acc, v4);
}

static uint64_t tail(uint64_t acc, const uint8_t *p, const uint8_t *end)
{
	while (end - p >= 8) {
		acc ^= round64(0, read64(p));
		acc = rotl(acc, 27) * P1 + P4;
		p += 8;
	}
	if (end - p >= 4) {
		acc ^= (uint64_t)read32(p) * P1;
		acc = rotl(acc, 23) * P2 + P3;
		p += 4;
	}
	while (p < end) {
		acc ^= (uint64_t)*p * P5;
		acc = rotl(acc, 11) * P1;
		p++;
	}
	return acc;
}

uint64_t fb_hash64(const void *data, size_t len, uint64_t seed)
{
	const uint8_t *p = data, *end = p + len;
	uint64_t acc = len >= 32 ? stripes(&p, end, seed) : seed + P5;

	acc += len;
	acc = tail(acc, p, end);
	acc ^= acc >> 33;
	acc *= P2;
	acc ^= acc >> 29;
	acc *= P3;
	acc ^= acc >> 32;
	return acc;
}

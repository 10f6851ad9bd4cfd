/* A fast 64-bit checksum for template headers, sections and guest memory.
 *
 * The algorithm is XXH64 (written here from its published specification, so
 * forkbox needs no libxxhash): fast enough to checksum gigabytes of guest
 * memory, and any other XXH64 implementation can check a template. */
#ifndef FORKBOX_VMM_SNAPSHOT_HASH_H
#define FORKBOX_VMM_SNAPSHOT_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t fb_hash64(const void *data, size_t len, uint64_t seed);

#endif

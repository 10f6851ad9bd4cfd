/* The flat byte form shared by vCPU and VM state blobs:
 *   u32 magic, u32 version, u32 total length, u32 record count,
 *   records { u32 tag, u32 length, bytes, zero padding to 8 }.
 * Little-endian; the payloads are fixed-layout KVM ABI structs (no
 * pointers). The reader checks every length before touching a byte. */
#ifndef FORKBOX_VMM_SNAPSHOT_RECORDS_H
#define FORKBOX_VMM_SNAPSHOT_RECORDS_H

#include <stddef.h>
#include <stdint.h>

struct fb_rec_writer {
	uint8_t *buf;
	size_t len, cap;
	uint32_t count;
	int failed;
};

void fb_rec_begin(struct fb_rec_writer *w, uint32_t magic, uint32_t version);
void fb_rec_put(struct fb_rec_writer *w, uint32_t tag, const void *data, size_t len);
/* The finished blob (malloc'ed, *len bytes) or NULL with fb_error() set. */
void *fb_rec_finish(struct fb_rec_writer *w, size_t *len);

struct fb_rec_reader {
	const uint8_t *data;
	size_t len, pos;
	uint32_t left;	  /* records not yet read */
	const char *what; /* "vCPU state", for messages */
};

/* 0, or -1 with "<what>: ..." for a wrong magic/version/length. */
int fb_rec_open(struct fb_rec_reader *r, const void *data, size_t len, uint32_t magic,
		uint32_t version, const char *what);
/* 1 with the next record, 0 at the clean end, -1 on a malformed record. */
int fb_rec_next(struct fb_rec_reader *r, uint32_t *tag, const void **data, uint32_t *len);

#endif

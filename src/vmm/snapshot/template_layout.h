/* On-disk layout of the template header (docs/TEMPLATE-FORMAT.md); private
 * to the writer and reader. All integers little-endian. */
#ifndef FORKBOX_VMM_SNAPSHOT_TEMPLATE_LAYOUT_H
#define FORKBOX_VMM_SNAPSHOT_TEMPLATE_LAYOUT_H

#include <stdint.h>

#include "vmm/snapshot/template_file.h"

#define TMPL_MAGIC	     "FORKBOX\0TMPL\r\n\x1a\n"
#define TMPL_MAGIC_LEN	     16
#define TMPL_HEADER_SIZE     4096u
#define TMPL_SECTIONS_AT     128u		    /* section table offset in the header */
#define TMPL_SECTION_BYTES   40u		    /* name[16], offset, size, checksum */
#define TMPL_CHECKSUM_AT     (TMPL_HEADER_SIZE - 8) /* XXH64 of bytes before it */
#define TMPL_SECTION_ALIGN   64u
#define TMPL_MAX_STATE_BYTES (64u << 20)	   /* all sections together */
#define TMPL_CHECKSUM_SEED   0x666f726b626f7831ull /* "forkbox1" */

/* Header field offsets. */
enum {
	TMPL_OFF_VERSION = 16,	    /* u32 */
	TMPL_OFF_HEADER_SIZE = 20,  /* u32 */
	TMPL_OFF_FLAGS = 24,	    /* u32 */
	TMPL_OFF_NR_SECTIONS = 28,  /* u32 */
	TMPL_OFF_FINGERPRINT = 32,  /* u64 */
	TMPL_OFF_MEM_SIZE = 40,	    /* u64 */
	TMPL_OFF_MEM_OFFSET = 48,   /* u64 */
	TMPL_OFF_MEM_CHECKSUM = 56, /* u64 */
	TMPL_OFF_MEM_NONZERO = 64,  /* u64: non-zero 4 KiB pages */
	TMPL_OFF_FILE_SIZE = 72,    /* u64 */
};

static inline void tmpl_put32(uint8_t *p, uint32_t v)
{
	__builtin_memcpy(p, &v, 4); /* x86 is little-endian */
}

static inline void tmpl_put64(uint8_t *p, uint64_t v)
{
	__builtin_memcpy(p, &v, 8);
}

static inline uint32_t tmpl_get32(const uint8_t *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, 4);
	return v;
}

static inline uint64_t tmpl_get64(const uint8_t *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, 8);
	return v;
}

#endif

/* The flat, versioned byte form of struct fb_vcpu_state. */
#include <string.h>

#include "util/error.h"
#include "vmm/snapshot/records.h"
#include "vmm/snapshot/vcpu_state.h"

#define VCPU_MAGIC   0x43564246u /* "FBVC" */
#define VCPU_VERSION 1u

enum {
	TAG_REGS = 1,
	TAG_SREGS,
	TAG_XCRS,
	TAG_XSAVE,
	TAG_MSRS,
	TAG_LAPIC,
	TAG_EVENTS,
	TAG_DEBUGREGS,
	TAG_MP_STATE,
	TAG_COUNT
};

void *fb_vcpu_state_serialize(const struct fb_vcpu_state *st, size_t *len)
{
	struct fb_rec_writer w;
	fb_rec_begin(&w, VCPU_MAGIC, VCPU_VERSION);
	fb_rec_put(&w, TAG_REGS, &st->regs, sizeof(st->regs));
	fb_rec_put(&w, TAG_SREGS, &st->sregs, sizeof(st->sregs));
	fb_rec_put(&w, TAG_XCRS, &st->xcrs, sizeof(st->xcrs));
	fb_rec_put(&w, TAG_XSAVE, st->xsave, st->xsave_size);
	fb_rec_put(&w, TAG_MSRS, st->msrs, st->nr_msrs * sizeof(st->msrs[0]));
	if (st->flags & FB_VCPU_HAS_LAPIC)
		fb_rec_put(&w, TAG_LAPIC, &st->lapic, sizeof(st->lapic));
	fb_rec_put(&w, TAG_EVENTS, &st->events, sizeof(st->events));
	fb_rec_put(&w, TAG_DEBUGREGS, &st->debugregs, sizeof(st->debugregs));
	fb_rec_put(&w, TAG_MP_STATE, &st->mp_state, sizeof(st->mp_state));
	return fb_rec_finish(&w, len);
}

static int fixed(void *dst, size_t size, const void *src, uint32_t len, const char *name)
{
	if (len != size)
		return fb_error("vCPU state: %s record has %u bytes, expected %zu", name, len,
				size);
	memcpy(dst, src, size);
	return 0;
}

static int parse_xsave(struct fb_vcpu_state *st, const void *src, uint32_t len)
{
	if (len < sizeof(struct kvm_xsave) || len > FB_XSAVE_MAX_SIZE || len % 64)
		return fb_error("vCPU state: XSAVE record has %u bytes", len);
	memcpy(st->xsave, src, len);
	st->xsave_size = len;
	return 0;
}

static int parse_msrs(struct fb_vcpu_state *st, const void *src, uint32_t len)
{
	if (len % sizeof(st->msrs[0]) || len / sizeof(st->msrs[0]) > FB_VCPU_MAX_MSRS)
		return fb_error("vCPU state: MSR record has %u bytes", len);
	memcpy(st->msrs, src, len);
	st->nr_msrs = len / sizeof(st->msrs[0]);
	return 0;
}

static int parse_record(struct fb_vcpu_state *st, uint32_t tag, const void *src, uint32_t len)
{
	switch (tag) {
	case TAG_REGS:
		return fixed(&st->regs, sizeof(st->regs), src, len, "regs");
	case TAG_SREGS:
		return fixed(&st->sregs, sizeof(st->sregs), src, len, "sregs");
	case TAG_XCRS:
		if (fixed(&st->xcrs, sizeof(st->xcrs), src, len, "XCRS") < 0)
			return -1;
		if (st->xcrs.nr_xcrs > KVM_MAX_XCRS)
			return fb_error("vCPU state: %u XCRs", st->xcrs.nr_xcrs);
		return 0;
	case TAG_XSAVE:
		return parse_xsave(st, src, len);
	case TAG_MSRS:
		return parse_msrs(st, src, len);
	case TAG_LAPIC:
		st->flags |= FB_VCPU_HAS_LAPIC;
		return fixed(&st->lapic, sizeof(st->lapic), src, len, "LAPIC");
	case TAG_EVENTS:
		return fixed(&st->events, sizeof(st->events), src, len, "events");
	case TAG_DEBUGREGS:
		return fixed(&st->debugregs, sizeof(st->debugregs), src, len, "debugregs");
	case TAG_MP_STATE:
		return fixed(&st->mp_state, sizeof(st->mp_state), src, len, "MP state");
	}
	return fb_error("vCPU state: unknown record %u", tag);
}

int fb_vcpu_state_parse(const void *data, size_t len, struct fb_vcpu_state *st)
{
	struct fb_rec_reader r;
	uint32_t seen = 0, tag, n;
	const void *rec;
	int more;

	memset(st, 0, sizeof(*st));
	if (fb_rec_open(&r, data, len, VCPU_MAGIC, VCPU_VERSION, "vCPU state") < 0)
		return -1;
	while ((more = fb_rec_next(&r, &tag, &rec, &n)) == 1) {
		if (tag >= 1 && tag < TAG_COUNT && (seen & (1u << tag)))
			return fb_error("vCPU state: record %u twice", tag);
		if (parse_record(st, tag, rec, n) < 0)
			return -1;
		seen |= 1u << tag;
	}
	if (more < 0)
		return -1;
	uint32_t required = ((1u << TAG_COUNT) - 2) & ~(1u << TAG_LAPIC);
	if ((seen & required) != required)
		return fb_error("vCPU state: records missing");
	return 0;
}

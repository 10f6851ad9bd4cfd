/* The flat, versioned byte form of struct fb_vm_state. */
#include <string.h>

#include "util/error.h"
#include "vmm/snapshot/records.h"
#include "vmm/snapshot/vm_state.h"

#define VM_MAGIC   0x4d564246u /* "FBVM" */
#define VM_VERSION 1u

enum { TAG_PIC_MASTER = 1, TAG_PIC_SLAVE, TAG_IOAPIC, TAG_PIT, TAG_CLOCK, TAG_COUNT };

void *fb_vm_state_serialize(const struct fb_vm_state *st, size_t *len)
{
	struct fb_rec_writer w;
	fb_rec_begin(&w, VM_MAGIC, VM_VERSION);
	if (st->flags & FB_VM_HAS_IRQCHIP) {
		fb_rec_put(&w, TAG_PIC_MASTER, &st->pic_master, sizeof(st->pic_master));
		fb_rec_put(&w, TAG_PIC_SLAVE, &st->pic_slave, sizeof(st->pic_slave));
		fb_rec_put(&w, TAG_IOAPIC, &st->ioapic, sizeof(st->ioapic));
	}
	if (st->flags & FB_VM_HAS_PIT)
		fb_rec_put(&w, TAG_PIT, &st->pit, sizeof(st->pit));
	fb_rec_put(&w, TAG_CLOCK, &st->clock, sizeof(st->clock));
	return fb_rec_finish(&w, len);
}

static void *record_field(struct fb_vm_state *st, uint32_t tag, size_t *size)
{
	switch (tag) {
	case TAG_PIC_MASTER:
		*size = sizeof(st->pic_master);
		return &st->pic_master;
	case TAG_PIC_SLAVE:
		*size = sizeof(st->pic_slave);
		return &st->pic_slave;
	case TAG_IOAPIC:
		*size = sizeof(st->ioapic);
		return &st->ioapic;
	case TAG_PIT:
		*size = sizeof(st->pit);
		return &st->pit;
	case TAG_CLOCK:
		*size = sizeof(st->clock);
		return &st->clock;
	}
	return NULL;
}

/* Records must come all three irqchip ones or none, clock always. */
static int check_set(uint32_t seen, struct fb_vm_state *st)
{
	uint32_t chips = 1u << TAG_PIC_MASTER | 1u << TAG_PIC_SLAVE | 1u << TAG_IOAPIC;
	if (!(seen & (1u << TAG_CLOCK)))
		return fb_error("VM state: clock record missing");
	if ((seen & chips) != 0 && (seen & chips) != chips)
		return fb_error("VM state: incomplete irqchip records");
	if (seen & chips)
		st->flags |= FB_VM_HAS_IRQCHIP;
	if (seen & (1u << TAG_PIT))
		st->flags |= FB_VM_HAS_PIT;
	return 0;
}

int fb_vm_state_parse(const void *data, size_t len, struct fb_vm_state *st)
{
	struct fb_rec_reader r;
	uint32_t seen = 0, tag, n;
	const void *rec;
	int more;

	memset(st, 0, sizeof(*st));
	if (fb_rec_open(&r, data, len, VM_MAGIC, VM_VERSION, "VM state") < 0)
		return -1;
	while ((more = fb_rec_next(&r, &tag, &rec, &n)) == 1) {
		size_t size = 0;
		void *field = record_field(st, tag, &size);
		if (!field)
			return fb_error("VM state: unknown record %u", tag);
		if (seen & (1u << tag))
			return fb_error("VM state: record %u twice", tag);
		if (n != size)
			return fb_error("VM state: record %u has %u bytes, expected %zu", tag, n,
					size);
		memcpy(field, rec, size);
		seen |= 1u << tag;
	}
	if (more < 0)
		return -1;
	return check_set(seen, st);
}

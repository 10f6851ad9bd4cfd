#include "vmm/mptable.h"

#include "util/error.h"

#include <stddef.h>
#include <string.h>

#define MP_SPEC_REV	  4
#define MP_LAPIC_VERSION  0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_ISA_IRQS	  16
#define MP_TABLE_END	  0xa0000ULL /* the table must stay in base memory */

enum { ENTRY_CPU = 0, ENTRY_BUS = 1, ENTRY_IOAPIC = 2, ENTRY_IOINT = 3, ENTRY_LOCALINT = 4 };
enum { INT_TYPE_INT = 0, INT_TYPE_NMI = 1, INT_TYPE_EXTINT = 3 };

struct mp_floating {
	char signature[4]; /* "_MP_" */
	uint32_t config_addr;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mp_config {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_cpu {
	uint8_t type, apic_id, apic_version, flags;
	uint32_t signature, features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type, bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type, apic_id, version, flags;
	uint32_t addr;
} __attribute__((packed));

struct mp_irq {
	uint8_t type, irq_type;
	uint16_t irq_flags; /* 0: polarity and trigger conform to the bus (ISA: edge, high) */
	uint8_t src_bus, src_irq, dst_apic, dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mp_config) == 44, "MP config header is 44 bytes");
_Static_assert(sizeof(struct mp_cpu) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mp_irq) == 8, "MP interrupt entry is 8 bytes");

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return (uint8_t)-sum;
}

/* Appends entries after the config header; returns the bytes written. */
static size_t write_entries(uint8_t *at, unsigned ncpus, uint16_t *count)
{
	size_t off = 0;
	uint8_t ioapic_id = (uint8_t)ncpus;
	for (unsigned i = 0; i < ncpus; i++) {
		struct mp_cpu cpu = {.type = ENTRY_CPU,
				     .apic_id = (uint8_t)i,
				     .apic_version = MP_LAPIC_VERSION,
				     .flags = (uint8_t)(1 | (i == 0 ? 2 : 0)), /* enabled, BSP */
				     .signature = 0x600,
				     .features = 0x201 /* FPU, APIC */};
		memcpy(at + off, &cpu, sizeof(cpu));
		off += sizeof(cpu);
		(*count)++;
	}
	struct mp_bus bus = {
	    .type = ENTRY_BUS, .bus_id = 0, .bus_type = {'I', 'S', 'A', ' ', ' ', ' '}};
	memcpy(at + off, &bus, sizeof(bus));
	off += sizeof(bus);
	struct mp_ioapic ioapic = {.type = ENTRY_IOAPIC,
				   .apic_id = ioapic_id,
				   .version = MP_IOAPIC_VERSION,
				   .flags = 1,
				   .addr = FB_IOAPIC_ADDR};
	memcpy(at + off, &ioapic, sizeof(ioapic));
	off += sizeof(ioapic);
	*count += 2;
	for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++) {
		struct mp_irq e = {.type = ENTRY_IOINT,
				   .irq_type = INT_TYPE_INT,
				   .src_bus = 0,
				   .src_irq = irq,
				   .dst_apic = ioapic_id,
				   .dst_pin = irq};
		memcpy(at + off, &e, sizeof(e));
		off += sizeof(e);
		(*count)++;
	}
	struct mp_irq lint0 = {
	    .type = ENTRY_LOCALINT, .irq_type = INT_TYPE_EXTINT, .dst_apic = 0xff, .dst_pin = 0};
	struct mp_irq lint1 = {
	    .type = ENTRY_LOCALINT, .irq_type = INT_TYPE_NMI, .dst_apic = 0xff, .dst_pin = 1};
	memcpy(at + off, &lint0, sizeof(lint0));
	off += sizeof(lint0);
	memcpy(at + off, &lint1, sizeof(lint1));
	off += sizeof(lint1);
	*count += 2;
	return off;
}

int fb_mptable_write(uint8_t *mem, uint64_t mem_size, unsigned ncpus)
{
	if (ncpus == 0 || ncpus > FB_MPTABLE_MAX_CPUS)
		return fb_error("MP table: %u CPUs (1..%d supported)", ncpus, FB_MPTABLE_MAX_CPUS);
	size_t max_size = sizeof(struct mp_floating) + sizeof(struct mp_config) +
			  ncpus * sizeof(struct mp_cpu) + sizeof(struct mp_bus) +
			  sizeof(struct mp_ioapic) + (MP_ISA_IRQS + 2) * sizeof(struct mp_irq);
	if (FB_MPTABLE_ADDR + max_size > MP_TABLE_END || MP_TABLE_END > mem_size)
		return fb_error("MP table: does not fit in guest base memory");

	uint8_t *base = mem + FB_MPTABLE_ADDR;
	memset(base, 0, max_size);
	uint64_t config_addr = FB_MPTABLE_ADDR + sizeof(struct mp_floating);
	uint8_t *config_at = mem + config_addr;
	uint16_t count = 0;
	size_t entries = write_entries(config_at + sizeof(struct mp_config), ncpus, &count);

	struct mp_config config = {
	    .signature = {'P', 'C', 'M', 'P'},
	    .length = (uint16_t)(sizeof(config) + entries),
	    .spec_rev = MP_SPEC_REV,
	    .oem = {'F', 'O', 'R', 'K', 'B', 'O', 'X', ' '},
	    .product = {'V', 'M', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
	    .entry_count = count,
	    .lapic_addr = FB_LAPIC_ADDR};
	memcpy(config_at, &config, sizeof(config));
	config_at[offsetof(struct mp_config, checksum)] = checksum(config_at, config.length);

	struct mp_floating fp = {.signature = {'_', 'M', 'P', '_'},
				 .config_addr = (uint32_t)config_addr,
				 .length = 1,
				 .spec_rev = MP_SPEC_REV};
	fp.checksum = checksum(&fp, sizeof(fp));
	memcpy(base, &fp, sizeof(fp));
	return 0;
}

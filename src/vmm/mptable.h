/* Intel MultiProcessor Specification 1.4 table, so a guest without ACPI finds
 * its CPUs, the in-kernel IOAPIC and how the ISA IRQs are wired to it. */
#ifndef FORKBOX_VMM_MPTABLE_H
#define FORKBOX_VMM_MPTABLE_H

#include <stdint.h>

#define FB_MPTABLE_ADDR	    0x9fc00ULL /* start of the EBDA; Linux scans it */
#define FB_IOAPIC_ADDR	    0xfec00000U
#define FB_LAPIC_ADDR	    0xfee00000U
#define FB_MPTABLE_MAX_CPUS 32

/* Write the floating pointer and configuration table for ncpus CPUs into
 * guest memory at FB_MPTABLE_ADDR (mem is the host view of guest address 0).
 * Returns -1 if it does not fit below 640 KiB or ncpus is out of range. */
int fb_mptable_write(uint8_t *mem, uint64_t mem_size, unsigned ncpus);

#endif

/* Loading a Linux vmlinux (ELF) and entering it with the x86 64-bit boot
 * protocol (Documentation/x86/boot.rst).
 *
 * Guest physical memory map (see also docs/ARCHITECTURE-vmm.md):
 *   0x00000000-0x000004ff  real-mode IVT/BDA area, left zero
 *   0x00000500             GDT (null, null, 0x10 code64, 0x18 data)
 *   0x00007000             boot_params ("zero page")
 *   0x00008ff0             initial stack pointer (grows down)
 *   0x00009000             PML4
 *   0x0000a000             PDPT
 *   0x0000b000-0x0000efff  4 page directories: 2 MiB pages, identity 0-4 GiB
 *   0x00020000             kernel command line (up to FB_BOOT_CMDLINE_MAX)
 *   0x0009fc00-0x000fffff  reserved in e820: MP table (EBDA), VGA, BIOS
 *   0x00100000-RAM end     usable; kernel at its ELF physical addresses
 *                          (16 MiB here), initramfs at the top of RAM
 *   RAM end-0xbfffffff     RAM ends at or below 3 GiB
 *   0xd0000000-0xd0000fff  virtio-mmio (vsock), IRQ 5
 *   0xfec00000             IOAPIC (in-kernel)   0xfee00000  LAPIC (in-kernel)
 *   0xfffbc000             KVM identity-map page; 0xfffbd000 KVM TSS (3 pages)
 */
#ifndef FORKBOX_VMM_BOOT_H
#define FORKBOX_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#define FB_BOOT_GDT_ADDR     0x500ULL
#define FB_BOOT_PARAMS_ADDR  0x7000ULL
#define FB_BOOT_STACK_ADDR   0x8ff0ULL
#define FB_BOOT_PML4_ADDR    0x9000ULL
#define FB_BOOT_PDPT_ADDR    0xa000ULL
#define FB_BOOT_PD_ADDR	     0xb000ULL
#define FB_BOOT_CMDLINE_ADDR 0x20000ULL
#define FB_BOOT_CMDLINE_MAX  2048 /* x86 COMMAND_LINE_SIZE */
#define FB_BOOT_LOW_RESERVED 0x9fc00ULL
#define FB_BOOT_HIGH_MEM     0x100000ULL
#define FB_BOOT_MIN_MEM	     (32ULL << 20)
#define FB_BOOT_MAX_MEM	     (3ULL << 30) /* the MMIO hole starts at 3 GiB */

struct fb_boot_image {
	const void *kernel; /* vmlinux ELF file contents */
	size_t kernel_size;
	const void *initramfs; /* may be NULL */
	size_t initramfs_size;
	const char *cmdline;
};

/* Where the vCPU starts: filled by fb_boot_load() for fb_boot_setup_vcpu(). */
struct fb_boot_entry {
	uint64_t rip;
	uint64_t kernel_end; /* highest guest physical byte used by the kernel */
};

/* Lay out kernel, initramfs, command line, boot_params, page tables and GDT
 * in guest memory (mem = host view of guest physical 0, mem_size bytes). */
int fb_boot_load(uint8_t *mem, uint64_t mem_size, const struct fb_boot_image *img,
		 struct fb_boot_entry *entry);

/* Put the vCPU in 64-bit mode at the entry: segments, CR0/CR3/CR4/EFER,
 * RIP, RSI = boot_params, FPU defaults. */
int fb_boot_setup_vcpu(int vcpu_fd, const struct fb_boot_entry *entry);

#endif

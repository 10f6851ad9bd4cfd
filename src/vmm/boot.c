#include "vmm/boot.h"

#include "util/error.h"
#include "vmm/mptable.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#define E820_RAM	      1
#define E820_RESERVED	      2
#define PAGE_SIZE	      0x1000ULL
#define HUGE_2M		      (2ULL << 20)
#define IDENTITY_MAP_GIB      4
#define INITRD_ADDR_MAX	      0x7fffffffULL
#define BOOT_PROTOCOL_VERSION 0x020f
#define LOADER_UNDEFINED      0xff
#define SEL_CODE	      0x10 /* __BOOT_CS */
#define SEL_DATA	      0x18 /* __BOOT_DS */
#define GDT_ENTRIES	      4

#define PTE_PRESENT 0x1ULL
#define PTE_WRITE   0x2ULL
#define PTE_HUGE    0x80ULL

#define CR0_PE			0x1ULL
#define CR0_ET			0x10ULL
#define CR0_NE			0x20ULL
#define CR0_PG			0x80000000ULL
#define CR4_PAE			0x20ULL
#define EFER_LME		0x100ULL
#define EFER_LMA		0x400ULL
#define MSR_IA32_MISC_ENABLE	0x1a0
#define MISC_ENABLE_FAST_STRING 0x1ULL

static int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int check_elf_header(const Elf64_Ehdr *eh, size_t size)
{
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return fb_error("kernel: not an ELF file (use vmlinux, not bzImage)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64 || eh->e_type != ET_EXEC)
		return fb_error("kernel: not a 64-bit little-endian x86-64 executable");
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phoff > size ||
	    (size - eh->e_phoff) / sizeof(Elf64_Phdr) < eh->e_phnum)
		return fb_error("kernel: program headers out of file bounds");
	return 0;
}

static int check_segment(const Elf64_Phdr *ph, size_t file_size, uint64_t mem_size)
{
	if (ph->p_filesz > ph->p_memsz || ph->p_offset > file_size ||
	    file_size - ph->p_offset < ph->p_filesz)
		return fb_error("kernel: segment at 0x%llx exceeds the file",
				(unsigned long long)ph->p_paddr);
	if (ph->p_paddr < FB_BOOT_HIGH_MEM || ph->p_paddr > mem_size ||
	    mem_size - ph->p_paddr < ph->p_memsz)
		return fb_error("kernel: segment 0x%llx+0x%llx is outside guest RAM (%llu MiB)",
				(unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz,
				(unsigned long long)(mem_size >> 20));
	return 0;
}

static int load_kernel(uint8_t *mem, uint64_t mem_size, const void *file, size_t size,
		       struct fb_boot_entry *entry)
{
	const Elf64_Ehdr *eh = file;
	if (check_elf_header(eh, size) < 0)
		return -1;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)((const uint8_t *)file + eh->e_phoff);
	int entry_loaded = 0;
	entry->kernel_end = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (check_segment(&ph[i], size, mem_size) < 0)
			return -1;
		for (unsigned j = 0; j < i; j++)
			if (ph[j].p_type == PT_LOAD && ranges_overlap(ph[i].p_paddr, ph[i].p_memsz,
								      ph[j].p_paddr, ph[j].p_memsz))
				return fb_error("kernel: segments %u and %u overlap", j, i);
		memcpy(mem + ph[i].p_paddr, (const uint8_t *)file + ph[i].p_offset, ph[i].p_filesz);
		memset(mem + ph[i].p_paddr + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
		if (ph[i].p_paddr + ph[i].p_memsz > entry->kernel_end)
			entry->kernel_end = ph[i].p_paddr + ph[i].p_memsz;
		if (eh->e_entry >= ph[i].p_paddr && eh->e_entry - ph[i].p_paddr < ph[i].p_filesz)
			entry_loaded = 1;
	}
	if (!entry_loaded)
		return fb_error("kernel: entry point 0x%llx is not in a loaded segment",
				(unsigned long long)eh->e_entry);
	entry->rip = eh->e_entry;
	return 0;
}

/* The initramfs goes at the top of RAM (below initrd_addr_max), page
 * aligned, above the kernel. Returns its guest address. */
static int load_initramfs(uint8_t *mem, uint64_t mem_size, const struct fb_boot_image *img,
			  uint64_t kernel_end, uint64_t *addr)
{
	uint64_t top = mem_size < INITRD_ADDR_MAX + 1 ? mem_size : INITRD_ADDR_MAX + 1;
	uint64_t size = img->initramfs_size;
	if (size > top || ((top - size) & ~(PAGE_SIZE - 1)) < kernel_end)
		return fb_error("initramfs: %llu MiB does not fit in %llu MiB of guest RAM "
				"beside the kernel",
				(unsigned long long)(size >> 20),
				(unsigned long long)(mem_size >> 20));
	*addr = (top - size) & ~(PAGE_SIZE - 1);
	memcpy(mem + *addr, img->initramfs, size);
	return 0;
}

static void add_e820(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];
	e->addr = addr;
	e->size = size;
	e->type = type;
}

static void write_boot_params(uint8_t *mem, uint64_t mem_size, uint64_t initrd_addr,
			      uint64_t initrd_size)
{
	struct boot_params *bp = (struct boot_params *)(mem + FB_BOOT_PARAMS_ADDR);
	memset(bp, 0, sizeof(*bp));
	bp->hdr.boot_flag = 0xaa55;
	bp->hdr.header = 0x53726448; /* "HdrS" */
	bp->hdr.version = BOOT_PROTOCOL_VERSION;
	bp->hdr.type_of_loader = LOADER_UNDEFINED;
	bp->hdr.loadflags = LOADED_HIGH;
	bp->hdr.cmd_line_ptr = (uint32_t)FB_BOOT_CMDLINE_ADDR;
	bp->hdr.cmdline_size = FB_BOOT_CMDLINE_MAX - 1;
	bp->hdr.ramdisk_image = (uint32_t)initrd_addr;
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->hdr.initrd_addr_max = (uint32_t)INITRD_ADDR_MAX;
	add_e820(bp, 0, FB_BOOT_LOW_RESERVED, E820_RAM);
	add_e820(bp, FB_BOOT_LOW_RESERVED, FB_BOOT_HIGH_MEM - FB_BOOT_LOW_RESERVED, E820_RESERVED);
	add_e820(bp, FB_BOOT_HIGH_MEM, mem_size - FB_BOOT_HIGH_MEM, E820_RAM);
}

static void put_u64(uint8_t *mem, uint64_t addr, uint64_t value)
{
	memcpy(mem + addr, &value, sizeof(value));
}

/* Identity map of the first 4 GiB with 2 MiB pages. */
static void write_page_tables(uint8_t *mem)
{
	memset(mem + FB_BOOT_PML4_ADDR, 0, PAGE_SIZE * (2 + IDENTITY_MAP_GIB));
	put_u64(mem, FB_BOOT_PML4_ADDR, FB_BOOT_PDPT_ADDR | PTE_PRESENT | PTE_WRITE);
	for (uint64_t g = 0; g < IDENTITY_MAP_GIB; g++) {
		uint64_t pd = FB_BOOT_PD_ADDR + g * PAGE_SIZE;
		put_u64(mem, FB_BOOT_PDPT_ADDR + g * 8, pd | PTE_PRESENT | PTE_WRITE);
		for (uint64_t i = 0; i < 512; i++) {
			uint64_t phys = (g * 512 + i) * HUGE_2M;
			put_u64(mem, pd + i * 8, phys | PTE_PRESENT | PTE_WRITE | PTE_HUGE);
		}
	}
}

static void write_gdt(uint8_t *mem)
{
	const uint64_t gdt[GDT_ENTRIES] = {
	    0, 0, 0x00af9b000000ffffULL, /* 0x10: 64-bit code, present, DPL 0 */
	    0x00cf93000000ffffULL,	 /* 0x18: data, read/write, 4 GiB */
	};
	memcpy(mem + FB_BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

int fb_boot_load(uint8_t *mem, uint64_t mem_size, const struct fb_boot_image *img,
		 struct fb_boot_entry *entry)
{
	if (mem_size < FB_BOOT_MIN_MEM || mem_size > FB_BOOT_MAX_MEM)
		return fb_error("guest RAM %llu MiB: must be %llu MiB to %llu MiB",
				(unsigned long long)(mem_size >> 20), FB_BOOT_MIN_MEM >> 20,
				FB_BOOT_MAX_MEM >> 20);
	size_t cmdline_len = strlen(img->cmdline);
	if (cmdline_len >= FB_BOOT_CMDLINE_MAX)
		return fb_error("kernel command line: %zu bytes, the limit is %d", cmdline_len,
				FB_BOOT_CMDLINE_MAX - 1);
	if (load_kernel(mem, mem_size, img->kernel, img->kernel_size, entry) < 0)
		return -1;
	uint64_t initrd_addr = 0;
	if (img->initramfs && img->initramfs_size > 0 &&
	    load_initramfs(mem, mem_size, img, entry->kernel_end, &initrd_addr) < 0)
		return -1;
	memcpy(mem + FB_BOOT_CMDLINE_ADDR, img->cmdline, cmdline_len + 1);
	write_boot_params(mem, mem_size, initrd_addr, initrd_addr ? img->initramfs_size : 0);
	write_page_tables(mem);
	write_gdt(mem);
	return fb_mptable_write(mem, mem_size, 1);
}

static void set_segment(struct kvm_segment *seg, uint16_t selector, uint8_t type, int code)
{
	*seg = (struct kvm_segment){.base = 0,
				    .limit = 0xffffffff,
				    .selector = selector,
				    .type = type,
				    .present = 1,
				    .dpl = 0,
				    .db = code ? 0 : 1,
				    .s = 1,
				    .l = code ? 1 : 0,
				    .g = 1};
}

static int setup_sregs(int vcpu_fd)
{
	struct kvm_sregs sregs;
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return fb_error_errno("KVM_GET_SREGS");
	set_segment(&sregs.cs, SEL_CODE, 0xb, 1);
	set_segment(&sregs.ds, SEL_DATA, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.gdt.base = FB_BOOT_GDT_ADDR;
	sregs.gdt.limit = GDT_ENTRIES * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	sregs.cr3 = FB_BOOT_PML4_ADDR;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return fb_error_errno("KVM_SET_SREGS");
	return 0;
}

static int setup_fpu_and_msrs(int vcpu_fd)
{
	struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
	if (ioctl(vcpu_fd, KVM_SET_FPU, &fpu) < 0)
		return fb_error_errno("KVM_SET_FPU");
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[1];
	} msrs = {.hdr = {.nmsrs = 1},
		  .entries = {{.index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING}}};
	int n = ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
	if (n < 0)
		return fb_error_errno("KVM_SET_MSRS");
	if (n != 1)
		return fb_error("KVM_SET_MSRS: IA32_MISC_ENABLE rejected");
	return 0;
}

int fb_boot_setup_vcpu(int vcpu_fd, const struct fb_boot_entry *entry)
{
	if (setup_sregs(vcpu_fd) < 0 || setup_fpu_and_msrs(vcpu_fd) < 0)
		return -1;
	struct kvm_regs regs = {.rip = entry->rip,
				.rsi = FB_BOOT_PARAMS_ADDR,
				.rsp = FB_BOOT_STACK_ADDR,
				.rbp = FB_BOOT_STACK_ADDR,
				.rflags = 0x2};
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return fb_error_errno("KVM_SET_REGS");
	return 0;
}

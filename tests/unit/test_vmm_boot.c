/* Loading a vmlinux-like ELF, the initramfs and the 64-bit boot structures
 * into guest memory, and refusing malformed kernels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <asm/bootparam.h>
#include <elf.h>

#include "util/error.h"
#include "vmm/boot.h"

#define MEM_SIZE     (64ULL << 20)
#define KERNEL_PADDR 0x1000000ULL
#define TEXT_LEN     4096
#define BSS_LEN	     8192

struct fake_elf {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	uint8_t text[TEXT_LEN];
};

static void make_elf(struct fake_elf *f)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->eh.e_ident, ELFMAG, SELFMAG);
	f->eh.e_ident[EI_CLASS] = ELFCLASS64;
	f->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	f->eh.e_type = ET_EXEC;
	f->eh.e_machine = EM_X86_64;
	f->eh.e_entry = KERNEL_PADDR + 0x10;
	f->eh.e_phoff = offsetof(struct fake_elf, ph);
	f->eh.e_phentsize = sizeof(Elf64_Phdr);
	f->eh.e_phnum = 2;
	f->ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
				.p_offset = offsetof(struct fake_elf, text),
				.p_paddr = KERNEL_PADDR,
				.p_filesz = TEXT_LEN,
				.p_memsz = TEXT_LEN + BSS_LEN};
	f->ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = 0, .p_filesz = 4};
	for (int i = 0; i < TEXT_LEN; i++)
		f->text[i] = (uint8_t)(i * 7);
}

struct fixture {
	uint8_t *mem;
	struct fake_elf elf;
	uint8_t initrd[10000];
	struct fb_boot_image img;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->mem = calloc(1, MEM_SIZE);
	if (!f || !f->mem)
		return -1;
	memset(f->mem + KERNEL_PADDR + TEXT_LEN, 0xee, BSS_LEN); /* must be zeroed */
	make_elf(&f->elf);
	memset(f->initrd, 0x5a, sizeof(f->initrd));
	f->img = (struct fb_boot_image){.kernel = &f->elf,
					.kernel_size = sizeof(f->elf),
					.initramfs = f->initrd,
					.initramfs_size = sizeof(f->initrd),
					.cmdline = "console=ttyS0 quiet"};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	free(f->mem);
	free(f);
	return 0;
}

static uint64_t u64_at(const uint8_t *mem, uint64_t addr)
{
	uint64_t v;
	memcpy(&v, mem + addr, sizeof(v));
	return v;
}

static void test_layout(void **state)
{
	struct fixture *f = *state;
	struct fb_boot_entry entry;
	assert_int_equal(fb_boot_load(f->mem, MEM_SIZE, &f->img, &entry), 0);
	assert_int_equal(entry.rip, KERNEL_PADDR + 0x10);
	assert_int_equal(entry.kernel_end, KERNEL_PADDR + TEXT_LEN + BSS_LEN);
	assert_memory_equal(f->mem + KERNEL_PADDR, f->elf.text, TEXT_LEN);
	for (int i = 0; i < BSS_LEN; i++)
		assert_int_equal(f->mem[KERNEL_PADDR + TEXT_LEN + i], 0);

	const struct boot_params *bp = (const void *)(f->mem + FB_BOOT_PARAMS_ADDR);
	assert_int_equal(bp->hdr.boot_flag, 0xaa55);
	assert_int_equal(bp->hdr.header, 0x53726448);
	assert_true(bp->hdr.version >= 0x020c);
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.cmd_line_ptr, FB_BOOT_CMDLINE_ADDR);
	assert_string_equal((const char *)f->mem + FB_BOOT_CMDLINE_ADDR, "console=ttyS0 quiet");

	/* initramfs: page aligned, at the top of RAM, above the kernel. */
	uint64_t rd = bp->hdr.ramdisk_image;
	assert_int_equal(bp->hdr.ramdisk_size, sizeof(f->initrd));
	assert_int_equal(rd % 4096, 0);
	assert_true(rd + sizeof(f->initrd) <= MEM_SIZE);
	assert_true(MEM_SIZE - (rd + sizeof(f->initrd)) < 4096);
	assert_true(rd >= entry.kernel_end);
	assert_memory_equal(f->mem + rd, f->initrd, sizeof(f->initrd));

	/* e820: low RAM, the reserved EBDA/BIOS hole, RAM from 1 MiB to the end. */
	assert_int_equal(bp->e820_entries, 3);
	assert_int_equal(bp->e820_table[0].addr, 0);
	assert_int_equal(bp->e820_table[0].type, 1);
	assert_int_equal(bp->e820_table[1].addr, FB_BOOT_LOW_RESERVED);
	assert_int_equal(bp->e820_table[1].type, 2);
	assert_int_equal(bp->e820_table[2].addr, FB_BOOT_HIGH_MEM);
	assert_int_equal(bp->e820_table[2].addr + bp->e820_table[2].size, MEM_SIZE);

	/* Identity map: 2 MiB pages up to 4 GiB. */
	assert_int_equal(u64_at(f->mem, FB_BOOT_PML4_ADDR) & ~0xfffULL, FB_BOOT_PDPT_ADDR);
	uint64_t pd3 = u64_at(f->mem, FB_BOOT_PDPT_ADDR + 3 * 8) & ~0xfffULL;
	uint64_t last = u64_at(f->mem, pd3 + 511 * 8);
	assert_int_equal(last & ~0xfffULL, (4ULL << 30) - (2ULL << 20));
	assert_true(last & 0x80);
	/* GDT: 64-bit code at 0x10 (L bit), data at 0x18. */
	assert_true(u64_at(f->mem, FB_BOOT_GDT_ADDR + 0x10) & (1ULL << 53));
	assert_memory_equal(f->mem + 0x9fc00, "_MP_", 4);
}

static void expect_error(struct fixture *f, uint64_t mem_size, const char *what)
{
	struct fb_boot_entry entry;
	fb_error_clear();
	assert_int_equal(fb_boot_load(f->mem, mem_size, &f->img, &entry), -1);
	if (!strstr(fb_error_last(), what))
		fail_msg("error '%s' does not mention '%s'", fb_error_last(), what);
}

static void test_rejects_bad_kernels(void **state)
{
	struct fixture *f = *state;
	f->elf.eh.e_ident[0] = 'M';
	expect_error(f, MEM_SIZE, "not an ELF file");
	make_elf(&f->elf);
	f->elf.eh.e_machine = EM_386;
	expect_error(f, MEM_SIZE, "x86-64");
	make_elf(&f->elf);
	f->elf.eh.e_phnum = 60000;
	expect_error(f, MEM_SIZE, "program headers out of file bounds");
	make_elf(&f->elf);
	f->elf.ph[0].p_filesz = 1 << 20;
	expect_error(f, MEM_SIZE, "exceeds the file");
	make_elf(&f->elf);
	f->elf.ph[0].p_paddr = MEM_SIZE - 100;
	f->elf.eh.e_entry = MEM_SIZE - 100;
	expect_error(f, MEM_SIZE, "outside guest RAM");
	make_elf(&f->elf);
	f->elf.ph[0].p_paddr = UINT64_MAX - 10;
	expect_error(f, MEM_SIZE, "outside guest RAM");
	make_elf(&f->elf);
	f->elf.ph[0].p_paddr = 0x1000; /* over the boot structures */
	expect_error(f, MEM_SIZE, "outside guest RAM");
	make_elf(&f->elf);
	f->elf.eh.e_entry = 0x2000000;
	expect_error(f, MEM_SIZE, "entry point");
	make_elf(&f->elf);
	f->elf.ph[1] = f->elf.ph[0];
	f->elf.ph[1].p_paddr += 0x1000;
	expect_error(f, MEM_SIZE, "overlap");
}

static void test_rejects_bad_sizes(void **state)
{
	struct fixture *f = *state;
	expect_error(f, 16ULL << 20, "guest RAM");
	expect_error(f, 4ULL << 30, "guest RAM");
	f->img.initramfs_size = MEM_SIZE - (8ULL << 20); /* would overlap the kernel */
	f->img.initramfs = f->mem;			 /* any readable bytes */
	expect_error(f, MEM_SIZE, "does not fit");
	f->img.initramfs_size = 0;
	char longline[FB_BOOT_CMDLINE_MAX + 10];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	f->img.cmdline = longline;
	expect_error(f, MEM_SIZE, "command line");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejects_bad_kernels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rejects_bad_sizes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* A template's guest memory held in RAM: read once from the template file
 * into a sealed memfd (zero pages stay holes), which every fork maps
 * MAP_PRIVATE (copy on write). Forks never depend on the file's page cache
 * staying resident, and the memory is shared by every process forked
 * after loading (forkbox-fcgi's master loads it, its workers inherit it).
 *
 * Options: lock (mlock the memory, so it is never swapped or dropped) and
 * huge_pages (back it with 2 MiB transparent huge pages: one host fault and
 * one KVM mapping per 2 MiB a fork reads).
 *
 * Thread safety: after fb_template_ram_load() everything is read-only; any
 * thread or child process may map it. */
#ifndef FORKBOX_VMM_TEMPLATE_RAM_H
#define FORKBOX_VMM_TEMPLATE_RAM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/snapshot/template_file.h"

struct fb_template_ram_options {
	bool lock;	 /* mlock() the memory (needs RLIMIT_MEMLOCK or CAP_IPC_LOCK) */
	bool huge_pages; /* collapse it into transparent huge pages */
};

struct fb_template_ram_info {
	uint64_t size;		 /* guest memory size */
	uint64_t resident_bytes; /* in RAM now (holes and swapped-out pages excluded) */
	uint64_t huge_bytes;	 /* of those, in huge pages (0 if unknown) */
	bool locked;
	bool huge_pages; /* huge pages were asked for and the kernel made some */
	double load_ms;	 /* time to read the file into RAM */
};

struct fb_template_ram;

/* Reads the guest memory of t into a new sealed memfd. Returns 0, or -1
 * with fb_error_last() set (e.g. "mlock template memory (127 MiB): ..."). */
int fb_template_ram_load(const struct fb_template *t, const struct fb_template_ram_options *opts,
			 struct fb_template_ram **out);
void fb_template_ram_close(struct fb_template_ram *ram);

/* A new copy-on-write mapping of the memory, 2 MiB aligned (so huge pages
 * can map as such); munmap() it with fb_template_ram_size() bytes. 2 MiB
 * chunks without data are anonymous memory in it, so the memfd never holds
 * more than fb_template_ram_data_bytes(), whatever forks touch. */
int fb_template_ram_map(const struct fb_template_ram *ram, void **addr);
uint64_t fb_template_ram_size(const struct fb_template_ram *ram);
uint64_t fb_template_ram_data_bytes(const struct fb_template_ram *ram);
/* The sealed memfd (for checks; never write to it). */
int fb_template_ram_fd(const struct fb_template_ram *ram);

/* Residency now (mincore over the memory): for /v1/health. */
void fb_template_ram_info(const struct fb_template_ram *ram, struct fb_template_ram_info *info);

#endif

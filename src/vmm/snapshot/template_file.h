/* The template file: everything needed to fork a VM from a snapshot, in one
 * versioned file (layout: docs/TEMPLATE-FORMAT.md).
 *
 * Guest memory sits at a 2 MiB-aligned offset and is stored sparse (zero
 * pages are holes), so fb_template_map_memory() can give every fork a
 * copy-on-write MAP_PRIVATE mapping of the file itself, never a copy.
 *
 * Thread safety: an opened fb_template is read-only; any number of threads
 * (and processes forked after fb_template_open()) may map and read it. */
#ifndef FORKBOX_VMM_SNAPSHOT_TEMPLATE_FILE_H
#define FORKBOX_VMM_SNAPSHOT_TEMPLATE_FILE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/snapshot/vcpu_state.h"
#include "vmm/snapshot/vm_state.h"

#define FB_TEMPLATE_VERSION	 1
#define FB_TEMPLATE_MEM_ALIGN	 (2u << 20)
#define FB_TEMPLATE_PAGE_SIZE	 4096u
#define FB_TEMPLATE_MAX_VCPUS	 8
#define FB_TEMPLATE_MAX_DEVICES	 8
#define FB_TEMPLATE_MAX_SECTIONS 32
#define FB_TEMPLATE_NAME_MAX	 16 /* section/device name, NUL included */

/* Metadata keys writers should set (values are free text, one line). */
#define FB_META_KERNEL_HASH    "kernel_sha256"
#define FB_META_INITRAMFS_HASH "initramfs_sha256"
#define FB_META_CMDLINE	       "kernel_cmdline"
#define FB_META_VERSION	       "forkbox_version"
#define FB_META_CREATED	       "created" /* ISO 8601 UTC, filled in if absent */

/* An opaque device blob ("serial", "vsock", ...). */
struct fb_template_blob {
	const char *name; /* 1..11 chars of [a-z0-9_-]; section "dev:NAME" */
	const void *data;
	size_t size;
};

struct fb_template_kv {
	const char *key;   /* [a-z0-9_]+ */
	const char *value; /* no newline */
};

struct fb_template_parts {
	const struct kvm_cpuid2 *cpuid;
	const struct fb_vcpu_state *vcpus; /* nr_vcpus of them */
	unsigned nr_vcpus;
	const struct fb_vm_state *vm;
	const struct fb_template_blob *devices;
	unsigned nr_devices;
	const struct fb_template_kv *meta;
	unsigned nr_meta;
	const void *mem;   /* guest physical 0..mem_size */
	uint64_t mem_size; /* multiple of 4 KiB */
	/* Optional working set (section "wset": pages read; "wcopy": pages
	 * written): 1 bit per 4 KiB page of memory, LSB first, mem_size /
	 * 4 KiB bits; NULL for none. */
	const uint8_t *wset;
	const uint8_t *wcopy;
};

/* Called now and then while memory is written (done <= total bytes). */
typedef void (*fb_template_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Write atomically: PATH.tmp, fsync, rename, fsync of the directory.
 * Returns 0 or -1 with fb_error_last() set (PATH.tmp removed). */
int fb_template_write(const char *path, const struct fb_template_parts *parts,
		      fb_template_progress_fn progress, void *ctx);

struct fb_template;

/* Open and validate everything but the memory checksum: magic, version,
 * header checksum, section bounds and checksums, state blobs, file size.
 * Distinct errors: "PATH: not a forkbox template", "PATH: unsupported
 * template version N (this forkbox reads 1)", "PATH: truncated: expected N
 * bytes, found M", "PATH: corrupt header", "PATH: corrupt section 'vcpu0'". */
int fb_template_open(const char *path, struct fb_template **out);
void fb_template_close(struct fb_template *t);

/* Compare with this host's normalized CPUID fingerprint (fb_cpuid_build()
 * + fb_cpuid_fingerprint()); error text from fb_cpuid_check_fingerprint(). */
int fb_template_check_cpu(const struct fb_template *t, uint64_t host_fingerprint);

/* The same, computing this host's fingerprint from kvm_fd (/dev/kvm):
 * what a fork engine calls once after fb_template_open(). */
int fb_template_check_host(const struct fb_template *t, int kvm_fd);

/* Checksum the whole memory image (slow: reads every byte). */
int fb_template_verify_memory(const struct fb_template *t);

/* A new copy-on-write (MAP_PRIVATE|MAP_NORESERVE) mapping of guest memory,
 * fb_template_mem_size() bytes; munmap() it when the fork is gone. */
int fb_template_map_memory(const struct fb_template *t, void **addr);

const char *fb_template_path(const struct fb_template *t);
/* The open file (read-only), e.g. to load the memory elsewhere. */
int fb_template_fd(const struct fb_template *t);
uint32_t fb_template_version(const struct fb_template *t);
uint64_t fb_template_cpuid_fingerprint(const struct fb_template *t);
uint64_t fb_template_mem_size(const struct fb_template *t);
uint64_t fb_template_mem_offset(const struct fb_template *t);
uint64_t fb_template_mem_nonzero_pages(const struct fb_template *t);
uint64_t fb_template_file_size(const struct fb_template *t);
const struct kvm_cpuid2 *fb_template_cpuid(const struct fb_template *t);
unsigned fb_template_nr_vcpus(const struct fb_template *t);
const struct fb_vcpu_state *fb_template_vcpu(const struct fb_template *t, unsigned index);
const struct fb_vm_state *fb_template_vm(const struct fb_template *t);
/* A device blob by name: 0 with data and size set, or -1 ("no device
 * state 'x'"). */
int fb_template_device(const struct fb_template *t, const char *name, const void **data,
		       size_t *size);
/* Metadata value for key, or NULL. */
const char *fb_template_meta(const struct fb_template *t, const char *key);
/* Its "runtime" metadata: "python", "node"; "python" when absent. */
const char *fb_template_runtime(const struct fb_template *t);
/* The recorded working set: bitmap of mem_size / 4 KiB bits, or NULL if
 * the template has none. */
const uint8_t *fb_template_wset(const struct fb_template *t);
/* The pages of the working set that requests write (copied into each fork
 * ahead), the same way, or NULL. */
const uint8_t *fb_template_wcopy(const struct fb_template *t);

/* Sections, for `forkbox template inspect`. */
struct fb_template_section_info {
	char name[FB_TEMPLATE_NAME_MAX];
	uint64_t offset;
	uint64_t size;
	uint64_t checksum;
};
unsigned fb_template_nr_sections(const struct fb_template *t);
const struct fb_template_section_info *fb_template_section(const struct fb_template *t,
							   unsigned index);

#endif

/* The files a boot needs (vmlinux, initramfs, command line), mapped
 * read-only, plus the kernel command line forkbox uses by default. */
#ifndef FORKBOX_VMM_BOOT_IMAGE_H
#define FORKBOX_VMM_BOOT_IMAGE_H

#include "vmm/boot.h"

/* What every forkbox guest gets unless the caller overrides it. reboot=k and
 * panic=-1 turn a guest reboot or panic into an i8042 reset the VMM sees;
 * no_timer_check avoids a spurious IOAPIC timer failure under slow
 * (nested) virtualization. */
#define FB_BOOT_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1 no_timer_check quiet"
/* Appended when the virtio-vsock device is attached. */
#define FB_BOOT_VSOCK_CMDLINE "virtio_mmio.device=4K@0xd0000000:5"

struct fb_boot_files {
	struct fb_boot_image img;
	size_t kernel_map_size, initramfs_map_size;
	void *initramfs_buf; /* composed from parts (fb_boot_files_open_parts) */
	char cmdline[FB_BOOT_CMDLINE_MAX];
};

/* Map kernel (and initramfs if not NULL). cmdline NULL: the contents of a
 * file named "cmdline" beside the kernel if there is one, else
 * FB_BOOT_DEFAULT_CMDLINE. extra (may be NULL) is appended unless the
 * command line already contains it. */
int fb_boot_files_open(struct fb_boot_files *f, const char *kernel, const char *initramfs,
		       const char *cmdline, const char *extra);
/* The same with an initramfs made of the files parts[0..n) (each a cpio
 * archive, compressed or not), then the extra bytes (an uncompressed cpio
 * archive, may be NULL), which start 4-byte aligned as the kernel wants. */
int fb_boot_files_open_parts(struct fb_boot_files *f, const char *kernel, const char *const *parts,
			     size_t n, const void *extra, size_t extra_len, const char *cmdline,
			     const char *cmdline_extra);
void fb_boot_files_close(struct fb_boot_files *f);
/* The command line a boot of kernel gets when the caller names none: the
 * "cmdline" file beside it, else FB_BOOT_DEFAULT_CMDLINE. */
void fb_boot_base_cmdline(const char *kernel, char *out, size_t cap);

/* The command line a boot of kernel gets by default ("cmdline" beside it,
 * else FB_BOOT_DEFAULT_CMDLINE). */
void fb_boot_base_cmdline(const char *kernel, char *out, size_t cap);

#endif

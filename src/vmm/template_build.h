/* Building a template: boot the guest, wait until its agent is ready (Python
 * and numpy imported), let it settle, pause it and write its complete state
 * and memory into one template file (src/vmm/snapshot/template_file.h). */
#ifndef FORKBOX_VMM_TEMPLATE_BUILD_H
#define FORKBOX_VMM_TEMPLATE_BUILD_H

#include <stdint.h>
#include <stdio.h>

#include "vmm/kvm.h"
#include "vmm/snapshot/template_file.h"

/* The line the guest agent prints on the console once it can serve. */
#define FB_AGENT_READY_LINE "forkbox-agent: ready"

struct fb_template_build_options {
	const char *output;    /* template file to write */
	const char *kernel;    /* vmlinux */
	const char *initramfs; /* may be NULL; ignored when n_parts > 0 */
	/* The initramfs as files unpacked in order (rootfs, agent), then extra
	 * bytes (the recipe's cpio archive; may be NULL). */
	const char *const *parts;
	size_t n_parts;
	const void *extra;
	size_t extra_len;
	/* Metadata recorded besides the command line and forkbox's version. */
	const struct fb_template_kv *meta;
	unsigned nr_meta;
	const char *cmdline;	/* NULL: the default (see boot_image.h) */
	uint64_t mem_size;	/* guest RAM in bytes */
	double ready_timeout_s; /* boot to readiness limit */
	int console_fd;		/* guest console copy, -1 drops it */
	FILE *progress;		/* progress lines ("booting kernel..."), or NULL */
	/* Record the working set: run these typical requests (NULL: none) in
	 * forks of the new template and store the pages they used in it
	 * (section "wset"; engine.h fb_engine_record_working_set()). */
	const char *const *working_set_codes;
	size_t n_working_set_codes;
};

/* Returns 0 with the file written, or -1 with fb_error_last() set. */
int fb_template_build(const struct fb_kvm *kvm, const struct fb_template_build_options *opts);

#endif

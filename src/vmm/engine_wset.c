/* Recording a template's working set through the engine: typical requests
 * run in forks, and the pages their memory mappings hold afterwards are
 * marked: unwritten template pages as read, private copies as written.
 * Each fork's mapping has no fault-around while it runs (guest_pages.h),
 * so the marks are the pages touched, not their neighbours too.
 * Prefetch maps the first and copies the second (working_set.h); a page
 * one request wrote and another only read is copied. */
#include "vmm/engine_priv.h"

#include "util/error.h"
#include "vmm/guest_pages.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RECORD_TIMEOUT_S 120

void fb_engine_record_end(struct fb_engine *e)
{
	if (e->record_uffd >= 0)
		close(e->record_uffd);
	e->record_uffd = -1;
}

void fb_engine_record_begin(struct fb_engine *e, struct fb_vm *vm)
{
	fb_engine_record_end(e);
	e->record_uffd = fb_guest_pages_no_fault_around(vm->mem.host, vm->mem.size);
	if (e->record_uffd < 0 && !e->record_note[0])
		snprintf(e->record_note, sizeof(e->record_note), "%.159s", fb_error_last());
}

static int record_one(struct fb_engine *e, const char *code, uint8_t *read_bits,
		      uint8_t *write_bits)
{
	struct fb_exec_request req = {
	    .code = code, .code_len = strlen(code), .timeout_s = RECORD_TIMEOUT_S};
	struct fb_exec_result res;
	struct fb_execution *x;
	if (fb_engine_exec(e, &req, NULL, &res, &x) < 0)
		return fb_error_prefix("run '%s'", code);
	int rc = 0;
	if (res.exit_code != 0) {
		rc = fb_error("'%s' exited with status %d", code, res.exit_code);
	} else {
		fb_vm_request_stop(x->vm);
		fb_vm_wait(x->vm, -1);
		rc = fb_guest_pages_mark(x->vm->mem.host, x->vm->mem.size, read_bits, write_bits);
	}
	fb_engine_record_end(e);
	fb_engine_finish(e, x, NULL);
	return rc;
}

int fb_engine_record_working_set(struct fb_engine *engine, const char *const *codes, size_t n,
				 uint8_t *read_bits, uint8_t *write_bits, char *note,
				 size_t note_cap)
{
	if (engine->prefetch || engine->pool)
		return fb_error("record the working set: the engine prefetches or pools VMs");
	engine->recording = true;
	engine->record_note[0] = '\0';
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = record_one(engine, codes[i], read_bits, write_bits);
	engine->recording = false;
	snprintf(note, note_cap, "%s", engine->record_note);
	if (rc < 0)
		return fb_error_prefix("record the working set");
	size_t len = (size_t)(engine->wset.pages + 7) / 8;
	for (size_t i = 0; write_bits && i < len; i++)
		read_bits[i] &= (uint8_t)~write_bits[i];
	return 0;
}

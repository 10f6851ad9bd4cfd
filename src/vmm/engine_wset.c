/* Recording a template's working set through the engine: typical requests
 * run in forks, and the template pages their memory mappings hold
 * afterwards, unwritten, are marked. Written pages are left out: mapping
 * them ahead would make the guest's write a copy of a mapped page, which
 * costs KVM an invalidation (and, nested, a TLB flush) on top of the copy. */
#include "vmm/engine_priv.h"

#include "util/error.h"
#include "vmm/guest_pages.h"

#include <string.h>

#define RECORD_TIMEOUT_S 120

static int record_one(struct fb_engine *e, const char *code, uint8_t *bits)
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
		rc = fb_guest_pages_mark_shared(x->vm->mem.host, x->vm->mem.size, bits);
	}
	fb_engine_finish(e, x, NULL);
	return rc;
}

int fb_engine_record_working_set(struct fb_engine *engine, const char *const *codes, size_t n,
				 uint8_t *bits)
{
	if (engine->prefetch)
		return fb_error("record the working set: the engine prefetches one already");
	for (size_t i = 0; i < n; i++)
		if (record_one(engine, codes[i], bits) < 0)
			return fb_error_prefix("record the working set");
	return 0;
}

/* The template recipe, as the guest sees it: forkbox writes it into a small
 * initramfs archive of its own at build time (src/vmm/recipe_overlay.c):
 *
 *   /etc/forkbox/recipe    "key=value" lines: name, runtime, max_processes
 *   /etc/forkbox/prelude   code the worker runs before the snapshot
 *   /etc/forkbox/bind      names of the prelude bound for the user's code
 *
 * The agent reads the first to know which worker to start and with which
 * limits; the workers read the other two. Without the file (a guest booted
 * from a bare initramfs) the agent runs the Python worker with defaults. */
#ifndef FORKBOX_AGENT_RECIPE_H
#define FORKBOX_AGENT_RECIPE_H

#define RECIPE_DIR  "/etc/forkbox"
#define RECIPE_FILE "recipe"

enum agent_runtime { RUNTIME_PYTHON, RUNTIME_NODE };

struct agent_recipe {
	char name[64];
	enum agent_runtime runtime;
	unsigned max_processes; /* RLIMIT_NPROC of the user code */
};

/* Defaults, then DIR/recipe when it exists. -1 with fb_error_last() set
 * (naming the file and line) when it is malformed. */
int recipe_load(const char *dir, struct agent_recipe *r);

/* "python" / "node" (the language the host sends for this runtime). */
const char *recipe_runtime_name(enum agent_runtime rt);
/* 0 and *rt for "python" or "node", else -1. */
int recipe_runtime_parse(const char *name, enum agent_runtime *rt);

#endif

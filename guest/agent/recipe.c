#include "recipe.h"

#include "sandbox.h"

#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const runtime_names[] = {[RUNTIME_PYTHON] = "python", [RUNTIME_NODE] = "node"};

const char *recipe_runtime_name(enum agent_runtime rt)
{
	return runtime_names[rt];
}

int recipe_runtime_parse(const char *name, enum agent_runtime *rt)
{
	for (size_t i = 0; i < sizeof(runtime_names) / sizeof(runtime_names[0]); i++) {
		if (strcmp(name, runtime_names[i]) == 0) {
			*rt = (enum agent_runtime)i;
			return 0;
		}
	}
	return -1;
}

static int set_value(struct agent_recipe *r, const char *key, const char *value)
{
	if (strcmp(key, "name") == 0) {
		snprintf(r->name, sizeof(r->name), "%s", value);
		return 0;
	}
	if (strcmp(key, "runtime") == 0) {
		if (recipe_runtime_parse(value, &r->runtime) < 0)
			return fb_error("unknown runtime \"%s\" (python or node)", value);
		return 0;
	}
	if (strcmp(key, "max_processes") == 0) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (errno || !*value || *end || v < 1 || v > 1000000)
			return fb_error("max_processes \"%s\" is not 1..1000000", value);
		r->max_processes = (unsigned)v;
		return 0;
	}
	return 0; /* keys for the host or a newer agent */
}

int recipe_load(const char *dir, struct agent_recipe *r)
{
	*r = (struct agent_recipe){
	    .name = "python", .runtime = RUNTIME_PYTHON, .max_processes = SANDBOX_MAX_PROCS};
	char path[256], line[512];
	snprintf(path, sizeof(path), "%s/%s", dir, RECIPE_FILE);
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : fb_error_errno("open %s", path);
	int rc = 0;
	for (unsigned n = 1; rc == 0 && fgets(line, sizeof(line), f); n++) {
		line[strcspn(line, "\n")] = '\0';
		char *eq = strchr(line, '=');
		if (!line[0] || line[0] == '#')
			continue;
		if (!eq) {
			rc = fb_error("%s:%u: expected key=value", path, n);
			break;
		}
		*eq = '\0';
		if (set_value(r, line, eq + 1) < 0)
			rc = fb_error_prefix("%s:%u", path, n);
	}
	fclose(f);
	return rc;
}

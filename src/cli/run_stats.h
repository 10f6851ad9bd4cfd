/* `forkbox run --stats`: an execution's costs (struct fb_exec_stats) as
 * text lines for stderr, or as a JSON object for --json. */
#ifndef FORKBOX_CLI_RUN_STATS_H
#define FORKBOX_CLI_RUN_STATS_H

#include <jansson.h>
#include <stdio.h>

#include "vmm/engine.h"

void fb_run_stats_print(FILE *f, const struct fb_exec_stats *st);
json_t *fb_run_stats_json(const struct fb_exec_stats *st);

#endif

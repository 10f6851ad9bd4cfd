/* The `forkbox` command table: one line per command. */
#include "cli/commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One line per command; `forkbox --help` lists them in this order. */
/* clang-format off */
const struct fb_command *const fb_commands[] = {
	&fb_cmd_doctor,
	&fb_cmd_config_check,
	&fb_cmd_run,
	&fb_cmd_boot,
	&fb_cmd_template,
	NULL,
};
/* clang-format on */

const struct fb_command *fb_command_find(const char *name)
{
	for (size_t i = 0; fb_commands[i]; i++)
		if (strcmp(fb_commands[i]->name, name) == 0)
			return fb_commands[i];
	return NULL;
}

int fb_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "forkbox %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'forkbox %s --help'.\n", cmd);
	return FB_EXIT_USAGE;
}

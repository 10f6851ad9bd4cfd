/* The `forkbox` command table.
 *
 * To add a command NAME: write src/cli/cmd_NAME.c defining
 * `const struct fb_command fb_cmd_NAME = { ... };`, add the file to
 * forkbox_SOURCES in src/cli/Makefile.inc, declare it below and add one
 * line to the table in commands.c. forkbox.c handles `--help`/`-h` anywhere
 * in a command's arguments (before "--") and `forkbox help NAME`, so a
 * command's main only parses its own options. */
#ifndef FORKBOX_CLI_COMMANDS_H
#define FORKBOX_CLI_COMMANDS_H

#include <stddef.h>

/* Exit status of every command for a bad command line. */
#define FB_EXIT_USAGE 2

struct fb_command {
	const char *name;    /* "doctor" */
	const char *summary; /* one line for `forkbox --help` */
	/* Man-page style: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS, EXAMPLES. */
	const char *help;
	/* argv[0] is the command name; returns the exit status. */
	int (*main)(int argc, char **argv);
};

extern const struct fb_command fb_cmd_doctor;
extern const struct fb_command fb_cmd_config_check;
extern const struct fb_command fb_cmd_boot;
extern const struct fb_command fb_cmd_run;
/* `forkbox template build|inspect|verify` (src/cli/cmd_template_info.c). */
extern const struct fb_command fb_cmd_template;
/* `forkbox template build|image` (src/cli/cmd_template_build.c), for the
 * template command. */
int fb_cmd_template_build(int argc, char **argv);
int fb_cmd_template_image(int argc, char **argv);

/* NULL-terminated table, in `forkbox --help` order. */
extern const struct fb_command *const fb_commands[];

const struct fb_command *fb_command_find(const char *name);
/* Print "forkbox CMD: MESSAGE" and a pointer to the help on stderr;
 * returns FB_EXIT_USAGE. */
int fb_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

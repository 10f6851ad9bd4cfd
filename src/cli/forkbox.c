/* forkbox: the command-line front end. Dispatches `forkbox CMD ...` to the
 * command table (commands.c) and answers --help/--version itself. */
#include "config.h" /* autoconf: PACKAGE_VERSION */

#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

static void print_usage(FILE *out)
{
	fprintf(out, "Usage: forkbox [--help | --version] COMMAND [ARGS...]\n"
		     "\n"
		     "Run untrusted Python in a fresh KVM VM per request (FastCGI/CGI backend).\n"
		     "\n"
		     "Commands:\n");
	for (size_t i = 0; fb_commands[i]; i++)
		fprintf(out, "  %-14s %s\n", fb_commands[i]->name, fb_commands[i]->summary);
	fprintf(out, "\nRun 'forkbox help COMMAND' or 'forkbox COMMAND --help' for a command's "
		     "manual.\n");
}

static int show_help(const char *name)
{
	const struct fb_command *cmd = fb_command_find(name);
	if (!cmd) {
		fprintf(stderr, "forkbox: no such command '%s'\nTry 'forkbox --help'.\n", name);
		return FB_EXIT_USAGE;
	}
	fputs(cmd->help, stdout);
	return 0;
}

/* --help or -h among a command's arguments (options end at "--"). */
static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr);
		return FB_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
		print_usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
		printf("forkbox %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(name, "help") == 0) {
		if (argc == 2) {
			print_usage(stdout);
			return 0;
		}
		return show_help(argv[2]);
	}
	const struct fb_command *cmd = fb_command_find(name);
	if (!cmd) {
		fprintf(stderr, "forkbox: unknown command '%s'\nTry 'forkbox --help'.\n", name);
		return FB_EXIT_USAGE;
	}
	if (wants_help(argc - 1, argv + 1)) {
		fputs(cmd->help, stdout);
		return 0;
	}
	return cmd->main(argc - 1, argv + 1);
}

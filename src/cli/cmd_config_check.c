/* `forkbox config-check`: load and validate a configuration file. */
#include "cli/commands.h"
#include "util/config.h"
#include "util/error.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_CONFIG FORKBOX_SYSCONFDIR "/forkbox/forkbox.conf"

static int config_check_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONFIG;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		if (c != 'c')
			return fb_usage_error("config-check",
					      "unknown option or missing value '%s'",
					      argv[optind - 1]);
		path = optarg;
	}
	if (optind < argc)
		return fb_usage_error("config-check", "unexpected argument '%s'", argv[optind]);

	struct fb_config *cfg = malloc(sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "forkbox config-check: out of memory\n");
		return 1;
	}
	fb_config_defaults(cfg);
	int rc = fb_config_load(cfg, path);
	if (rc == 0)
		printf("%s: syntax ok\n", path);
	else
		fprintf(stderr, "forkbox config-check: %s\n", fb_error_last());
	fb_config_free(cfg);
	free(cfg);
	return rc == 0 ? 0 : 1;
}

const struct fb_command fb_cmd_config_check = {
    .name = "config-check",
    .summary = "load and validate a configuration file",
    .main = config_check_main,
    .help = "NAME\n"
	    "    forkbox config-check - load and validate a configuration file\n"
	    "\n"
	    "SYNOPSIS\n"
	    "    forkbox config-check [-c FILE]\n"
	    "\n"
	    "DESCRIPTION\n"
	    "    Parses FILE (libconfig syntax) over the built-in defaults and checks\n"
	    "    every setting: unknown groups or keys, types, ranges and the rules\n"
	    "    between keys (spare servers, timeouts). Prints \"FILE: syntax ok\", or\n"
	    "    the first error as \"FILE:LINE: group.key: reason\". Every key is\n"
	    "    described in docs/CONFIG.md and conf/forkbox.conf.\n"
	    "\n"
	    "OPTIONS\n"
	    "    -c, --config FILE\n"
	    "        The file to check (default " DEFAULT_CONFIG ").\n"
	    "    -h, --help\n"
	    "        Show this manual.\n"
	    "\n"
	    "EXIT STATUS\n"
	    "    0   the file is valid.\n"
	    "    1   the file cannot be read or is invalid.\n"
	    "    2   bad command line.\n"
	    "\n"
	    "EXAMPLES\n"
	    "    forkbox config-check -c /etc/forkbox/forkbox.conf\n"
	    "    forkbox config-check -c conf/forkbox.conf && systemctl reload forkbox\n",
};

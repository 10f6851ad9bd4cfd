/* forkbox-fcgi: FastCGI/CGI front end of forkbox. */
#include "fcgi/auth.h"
#include "fcgi/harden.h"
#include "fcgi/listen.h"
#include "fcgi/log.h"
#include "fcgi/master.h"
#include "fcgi/runtime.h"
#include "fcgi/standalone.h"
#include "util/error.h"
#include "util/recipe.h"

#include "config.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DEFAULT_CONFIG FORKBOX_SYSCONFDIR "/forkbox/forkbox.conf"

static const char usage_text[] =
    "NAME\n"
    "    forkbox-fcgi - run untrusted Python code in forked VMs behind nginx/Apache\n"
    "\n"
    "SYNOPSIS\n"
    "    forkbox-fcgi [-c FILE] [-t] [-F|-D] [-p PIDFILE]\n"
    "    forkbox-fcgi --help | --version\n"
    "\n"
    "DESCRIPTION\n"
    "    A FastCGI responder pool (php-fpm style) serving the zeroboot-compatible\n"
    "    HTTP API: POST /v1/exec, POST /v1/exec/batch, GET /v1/health,\n"
    "    GET /v1/metrics. The master loads the configuration and maps the VM\n"
    "    template once, then forks workers that inherit the mapping.\n"
    "\n"
    "    How it listens is chosen at start:\n"
    "      - systemd socket activation (LISTEN_FDS): the passed socket, full pool;\n"
    "      - a listening socket on fd 0 (spawn-fcgi, Apache mod_fcgid): this\n"
    "        process serves as a single worker;\n"
    "      - REQUEST_METHOD set and no socket on fd 0: plain CGI, one request;\n"
    "      - otherwise pool.listen from the configuration, full pool.\n"
    "\n"
    "OPTIONS\n"
    "    -c, --config FILE    configuration file (default " DEFAULT_CONFIG ")\n"
    "    -t, --test           check the configuration and exit\n"
    "    -F, --foreground     stay in the foreground (default; for systemd)\n"
    "    -D, --daemonize      detach from the terminal\n"
    "    -p, --pid FILE       write the master's pid here (overrides daemon.pid_file)\n"
    "    -h, --help           show this help\n"
    "    -V, --version        show the version\n"
    "\n"
    "SIGNALS (to the master)\n"
    "    TERM    graceful stop: requests in flight finish\n"
    "    QUIT    fast stop (INT too)\n"
    "    HUP     graceful reload of the configuration and template\n"
    "    USR1    reopen the log file\n"
    "\n"
    "FILES\n"
    "    " DEFAULT_CONFIG "\n"
    "\n"
    "SEE ALSO\n"
    "    docs/API.md, docs/DEPLOY.md, docs/CONFIG.md\n";

struct options {
	const char *config;
	bool test;
	int daemonize; /* -1 as configured */
	const char *pid_file;
};

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
	    {"foreground", no_argument, NULL, 'F'},   {"daemonize", no_argument, NULL, 'D'},
	    {"pid", required_argument, NULL, 'p'},    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
	int c;

	*o = (struct options){.config = DEFAULT_CONFIG, .daemonize = -1};
	while ((c = getopt_long(argc, argv, "c:tFDp:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 't':
			o->test = true;
			break;
		case 'F':
			o->daemonize = 0;
			break;
		case 'D':
			o->daemonize = 1;
			break;
		case 'p':
			o->pid_file = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("forkbox-fcgi %s\n", PACKAGE_VERSION);
			exit(0);
		default:
			fprintf(stderr, "Try 'forkbox-fcgi --help'.\n");
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "forkbox-fcgi: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* -t: everything that can be checked without starting VMs. */
static int test_config(const struct options *o, struct fb_config *cfg)
{
	struct fb_auth auth;

	if (fb_log_open(NULL, cfg->log.level) || fb_harden_check_user(&cfg->daemon) ||
	    fb_auth_load(&auth, cfg->auth.keys_file)) {
		fprintf(stderr, "%s: %s\n", o->config, fb_error_last());
		return 1;
	}
	fb_auth_free(&auth);
	for (size_t i = 0; i < cfg->n_templates; i++) {
		char path[FB_PATH_MAX + 64];
		struct fb_recipe r;
		fb_config_recipe_path(cfg, &cfg->templates[i], path, sizeof(path));
		if (fb_recipe_load(&r, path) < 0) {
			fprintf(stderr, "%s: template %s: %s\n", o->config, cfg->templates[i].name,
				fb_error_last());
			return 1;
		}
		fb_recipe_free(&r);
		fb_config_template_file(cfg, &cfg->templates[i], path, sizeof(path));
		if (access(path, R_OK))
			fprintf(stderr,
				"%s: warning: template %s (%s) is not readable yet: build it with "
				"`forkbox template build %s`\n",
				o->config, cfg->templates[i].name, path, cfg->templates[i].name);
	}
	printf("%s: syntax ok, test successful\n", o->config);
	return 0;
}

static int run(const struct options *o, struct fb_runtime *rt)
{
	int fd = fb_listen_systemd();

	if (fd < 0 && fb_listen_is_listener(0))
		return fb_serve_inherited(rt, 0);
	if (fd < 0 && getenv("REQUEST_METHOD"))
		return fb_serve_cgi(rt);
	struct fb_master_options mo = {.config_path = o->config,
				       .pid_file = o->pid_file,
				       .daemonize = o->daemonize,
				       .listen_fd = fd};
	return fb_master_run(rt, &mo);
}

int main(int argc, char **argv)
{
	struct options o;
	struct fb_runtime *rt = calloc(1, sizeof(*rt));

	if (!rt || parse_args(argc, argv, &o))
		return 2;
	/* Reloads happen after daemonizing (cwd "/"): keep an absolute path. */
	char *absolute = realpath(o.config, NULL);
	if (absolute)
		o.config = absolute;
	if (fb_runtime_load_config(&rt->cfg, o.config)) {
		fprintf(stderr, "forkbox-fcgi: %s\n", fb_error_last());
		return 1;
	}
	if (o.test)
		return test_config(&o, &rt->cfg);
	if (fb_log_open(rt->cfg.log.error_log, rt->cfg.log.level)) {
		fprintf(stderr, "forkbox-fcgi: %s\n", fb_error_last());
		return 1;
	}
	return run(&o, rt);
}

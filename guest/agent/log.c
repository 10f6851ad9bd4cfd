#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/reboot.h>
#include <unistd.h>

bool agent_is_pid1;

static void vlog(const char *what, const char *fmt, va_list ap)
{
	char line[1024];
	int len = snprintf(line, sizeof(line), "forkbox-agent: %s", what);
	if (len < 0 || (size_t)len >= sizeof(line))
		return;
	int more = vsnprintf(line + len, sizeof(line) - (size_t)len, fmt, ap);
	if (more < 0)
		return;
	len += more;
	if ((size_t)len >= sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line so lines never interleave with the worker's. */
	if (write(STDERR_FILENO, line, (size_t)len) < 0)
		return;
}

void agent_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void agent_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("fatal: ", fmt, ap);
	va_end(ap);
	if (!agent_is_pid1)
		exit(1);
	sync();
	reboot(RB_POWER_OFF);
	/* Only reached if the power-off itself failed: never return as PID 1. */
	agent_log("fatal: power off failed; halting here");
	for (;;)
		pause();
}

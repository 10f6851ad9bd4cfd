/* Error log with levels and reopen-on-signal. */
#include "fcgi/log.h"

#include "util/config.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static enum fb_log_level log_level = FB_LOG_NOTICE;
static char log_path[FB_PATH_MAX];

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

static int parse_level(const char *name)
{
	for (int i = 0; i <= FB_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return fb_error("log level \"%s\" is not one of error, warning, notice, info, debug", name);
}

int fb_log_open(const char *path, const char *level)
{
	int lvl = parse_level(level && *level ? level : "notice");

	if (lvl < 0)
		return -1;
	log_level = (enum fb_log_level)lvl;
	if (!path || !*path || strcmp(path, "stderr") == 0) {
		log_path[0] = '\0';
		return 0;
	}
	snprintf(log_path, sizeof(log_path), "%s", path);
	return fb_log_reopen();
}

int fb_log_reopen(void)
{
	if (!log_path[0])
		return 0;
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return fb_error_errno("open log file %s", log_path);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int fb_log_fd(void)
{
	return log_fd;
}

int fb_log_is_stderr(void)
{
	return log_fd == STDERR_FILENO;
}

void fb_log(enum fb_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	if (level > log_level)
		return;
	localtime_r(&now, &tm);
	size_t n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S ", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "[%s] pid %d: ", level_names[level],
			      (int)getpid());
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	n = m < 0 ? n : n + (size_t)m;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(log_fd, line, n);
	(void)w; /* nowhere left to report a failing log */
}

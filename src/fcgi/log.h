/* The pool's error log: one line per event, written with a single write()
 * so lines of concurrent workers never interleave. */
#ifndef FORKBOX_FCGI_LOG_H
#define FORKBOX_FCGI_LOG_H

enum fb_log_level { FB_LOG_ERROR, FB_LOG_WARNING, FB_LOG_NOTICE, FB_LOG_INFO, FB_LOG_DEBUG };

/* path "" or "stderr" = standard error. level: error|warning|notice|info|debug.
 * Returns 0, or -1 with fb_error_last(). */
int fb_log_open(const char *path, const char *level);
/* Reopen the same file (SIGUSR1, after log rotation). */
int fb_log_reopen(void);
/* Whether the log goes to standard error (daemon mode keeps stderr open). */
int fb_log_is_stderr(void);
/* The descriptor log lines go to (for async-signal-safe reports). */
int fb_log_fd(void);
void fb_log(enum fb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[FB_ERROR_MAX];

/* Store "a" or "a: b" into last_error, truncating at the end. */
static void store(const char *a, const char *b)
{
	char joined[3 * FB_ERROR_MAX];
	size_t len = strnlen(a, FB_ERROR_MAX);
	memcpy(joined, a, len);
	if (b) {
		size_t blen = strnlen(b, FB_ERROR_MAX);
		memcpy(joined + len, ": ", 2);
		memcpy(joined + len + 2, b, blen);
		len += 2 + blen;
	}
	if (len >= sizeof(last_error))
		len = sizeof(last_error) - 1;
	memcpy(last_error, joined, len);
	last_error[len] = '\0';
}

int fb_error(const char *fmt, ...)
{
	char what[FB_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	store(what, NULL);
	return -1;
}

int fb_error_errno(const char *fmt, ...)
{
	int saved = errno;
	char what[FB_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	store(what, strerror(saved));
	errno = saved;
	return -1;
}

int fb_error_prefix(const char *fmt, ...)
{
	char prefix[FB_ERROR_MAX];
	char old[FB_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, last_error, sizeof(old));
	store(prefix, old);
	return -1;
}

const char *fb_error_last(void)
{
	return last_error;
}

void fb_error_clear(void)
{
	last_error[0] = '\0';
}

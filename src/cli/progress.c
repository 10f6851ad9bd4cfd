/* Progress relay: a stdio stream (fopencookie) whose lines are printed with
 * the elapsed time, and a thread that repeats the last one while nothing new
 * arrives. */
#include "cli/progress.h"

#include "util/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct fb_progress {
	const char *prefix;
	FILE *to, *stream;
	unsigned repeat_s;
	int64_t start_ns, last_ns; /* step start; last line printed */
	char line[512];		   /* the line being written, then the last one */
	size_t len;
	bool line_done, stop;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t ticker;
};

/* Under p->lock. */
static void print_line(struct fb_progress *p, const char *suffix)
{
	p->last_ns = fb_clock_ns();
	fprintf(p->to, "%s: [%4lds] %s%s\n", p->prefix,
		(long)((p->last_ns - p->start_ns) / 1000000000), p->line, suffix);
	fflush(p->to);
}

static ssize_t relay_write(void *cookie, const char *buf, size_t size)
{
	struct fb_progress *p = cookie;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < size; i++) {
		if (p->line_done) {
			p->len = 0;
			p->line_done = false;
		}
		if (buf[i] == '\n') {
			p->line[p->len] = '\0';
			p->line_done = true;
			print_line(p, "");
		} else if (p->len + 1 < sizeof(p->line)) {
			p->line[p->len++] = buf[i];
		}
	}
	pthread_mutex_unlock(&p->lock);
	return (ssize_t)size;
}

static void *ticker(void *arg)
{
	struct fb_progress *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		int64_t due = p->last_ns + (int64_t)p->repeat_s * 1000000000;
		if (fb_clock_ns() >= due) {
			if (p->line_done)
				print_line(p, " (still)");
			else
				p->last_ns = fb_clock_ns(); /* nothing to repeat yet */
			continue;
		}
		struct timespec at = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
		pthread_cond_timedwait(&p->wake, &p->lock, &at);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct fb_progress *fb_progress_start(const char *prefix, FILE *to, unsigned repeat_s)
{
	struct fb_progress *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	*p = (struct fb_progress){.prefix = prefix, .to = to, .repeat_s = repeat_s};
	p->start_ns = p->last_ns = fb_clock_ns();
	pthread_condattr_t monotonic; /* the ticker's deadlines are fb_clock_ns() */
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, &monotonic);
	pthread_condattr_destroy(&monotonic);
	p->stream = fopencookie(p, "w", (cookie_io_functions_t){.write = relay_write});
	int err = p->stream ? pthread_create(&p->ticker, NULL, ticker, p) : errno;
	if (err) {
		if (p->stream)
			fclose(p->stream);
		free(p);
		errno = err;
		return NULL;
	}
	setvbuf(p->stream, NULL, _IOLBF, 0);
	return p;
}

FILE *fb_progress_stream(struct fb_progress *p)
{
	return p->stream;
}

void fb_progress_stop(struct fb_progress *p)
{
	fflush(p->stream);
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->ticker, NULL);
	fclose(p->stream);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
}

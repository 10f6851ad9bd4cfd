#include "oom.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

/* How long to wait for the kill's log record after the victim was reaped. */
#define RECORD_WAIT_MS 50

static int kmsg_fd = -1;

struct oom_kills {
	unsigned count;
	bool worker;	      /* the worker itself was a victim */
	pid_t pid;	      /* the last victim */
	char comm[32];	      /* its name */
	unsigned long rss_kb; /* its anonymous memory when killed */
};

int oom_watch_open(void)
{
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd < 0)
		return fb_error_errno("open /dev/kmsg");
	return 0;
}

void oom_watch_begin(void)
{
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
}

/* A record is "prio,seq,usec,flags;text\n"; the kernel logs each kill as
 * "Out of memory: Killed process PID (COMM) total-vm:..kB, anon-rss:..kB, ..." */
static void parse_record(const char *rec, pid_t worker, struct oom_kills *k)
{
	const char *text = strchr(rec, ';');
	const char *p = text ? strstr(text, "Killed process ") : NULL;
	if (!p)
		return;
	char *end;
	long pid = strtol(p + strlen("Killed process "), &end, 10);
	if (end == p || strncmp(end, " (", 2) != 0)
		return;
	const char *comm = end + 2, *close = strchr(comm, ')');
	if (!close)
		return;
	k->count++;
	k->pid = (pid_t)pid;
	k->worker |= k->pid == worker;
	snprintf(k->comm, sizeof(k->comm), "%.*s", (int)(close - comm), comm);
	const char *rss = strstr(close, "anon-rss:");
	k->rss_kb = rss ? strtoul(rss + strlen("anon-rss:"), NULL, 10) : 0;
}

/* Reads the records logged since the last call. */
static void read_records(pid_t worker, struct oom_kills *k)
{
	char rec[8192];
	for (;;) {
		ssize_t n = read(kmsg_fd, rec, sizeof(rec) - 1);
		/* EPIPE: records were overwritten before we read them; EINVAL:
		 * one too long for rec. Either way the next read goes on. */
		if (n < 0 && (errno == EPIPE || errno == EINVAL || errno == EINTR))
			continue;
		if (n <= 0)
			return;
		rec[n] = '\0';
		parse_record(rec, worker, k);
	}
}

static unsigned long guest_ram_mib(void)
{
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return 0;
	return (unsigned long)((unsigned long long)si.totalram * si.mem_unit >> 20);
}

size_t oom_watch_note(pid_t worker, bool worker_killed, char *buf, size_t cap)
{
	struct oom_kills k = {0};
	if (kmsg_fd < 0 || cap == 0)
		return 0;
	read_records(worker, &k);
	if (worker_killed && !k.worker) {
		struct pollfd pfd = {.fd = kmsg_fd, .events = POLLIN};
		if (poll(&pfd, 1, RECORD_WAIT_MS) > 0)
			read_records(worker, &k);
	}
	if (k.count == 0)
		return 0;
	char who[96];
	if (k.worker && k.count == 1)
		snprintf(who, sizeof(who), "the code");
	else if (k.worker)
		snprintf(who, sizeof(who), "the code and %u other process%s", k.count - 1,
			 k.count == 2 ? "" : "es");
	else
		snprintf(who, sizeof(who), "%u process%s of the code", k.count,
			 k.count == 1 ? "" : "es");
	int len = snprintf(buf, cap,
			   "forkbox: out of memory: the guest kernel's OOM killer killed %s "
			   "(%s%s, pid %d, %lu MiB in use); the VM has %lu MiB of RAM\n",
			   who, k.count > 1 ? "the last: " : "", k.comm, (int)k.pid, k.rss_kb >> 10,
			   guest_ram_mib());
	if (len < 0)
		return 0;
	return (size_t)len < cap ? (size_t)len : cap - 1;
}

#include "sandbox.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* One passwd line "name:pw:uid:gid:gecos:home:shell" into *u if it is `name`. */
static int parse_passwd_line(char *line, const char *name, struct sandbox_user *u)
{
	char *field[7];
	int n = 0;
	for (char *p = line; p && n < 7;) {
		field[n++] = p;
		p = strchr(p, ':');
		if (p)
			*p++ = '\0';
	}
	if (n < 7 || strcmp(field[0], name) != 0)
		return 0;
	char *end;
	errno = 0;
	unsigned long uid = strtoul(field[2], &end, 10);
	if (errno || *end || end == field[2])
		return fb_error("%s: bad uid \"%s\"", name, field[2]);
	unsigned long gid = strtoul(field[3], &end, 10);
	if (errno || *end || end == field[3])
		return fb_error("%s: bad gid \"%s\"", name, field[3]);
	if (uid == 0 || gid == 0 || uid >= 65535 || gid >= 65535)
		return fb_error("%s: uid %lu / gid %lu is not an unprivileged id", name, uid, gid);
	if (strlen(name) >= sizeof(u->name) || strlen(field[5]) >= sizeof(u->home) ||
	    field[5][0] != '/')
		return fb_error("%s: bad name or home \"%s\"", name, field[5]);
	u->uid = (uid_t)uid;
	u->gid = (gid_t)gid;
	strcpy(u->name, name);
	strcpy(u->home, field[5]);
	return 1;
}

int sandbox_lookup(const char *passwd, const char *name, struct sandbox_user *u)
{
	FILE *f = fopen(passwd, "re");
	if (!f)
		return fb_error_errno("open %s", passwd);
	char line[512];
	int found = 0;
	while (found == 0 && fgets(line, sizeof(line), f))
		found = parse_passwd_line(line, name, u);
	fclose(f);
	if (found == 0)
		return fb_error("no user \"%s\" in %s (a rootfs built before the sandbox user?)",
				name, passwd);
	return found < 0 ? fb_error_prefix("%s", passwd) : 0;
}

static int set_limit(int resource, const char *what, rlim_t value)
{
	struct rlimit rl = {value, value};
	if (setrlimit(resource, &rl) < 0)
		return fb_error_errno("setrlimit %s", what);
	return 0;
}

/* The OOM killer picks the user code first, whatever its size (root sets
 * this, so the code cannot lower it again). */
static int prefer_for_oom_kill(void)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return fb_error_errno("open /proc/self/oom_score_adj");
	ssize_t n = write(fd, "1000", 4);
	int saved = errno;
	close(fd);
	errno = saved;
	return n == 4 ? 0 : fb_error_errno("write /proc/self/oom_score_adj");
}

/* Empties the capability bounding set (up to the first unknown cap). */
static int drop_bounding_set(void)
{
	for (int cap = 0;; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL && cap > 0)
			return 0;
		return fb_error_errno("PR_CAPBSET_DROP %d", cap);
	}
}

static int switch_user(const struct sandbox_user *u)
{
	if (setgroups(0, NULL) < 0)
		return fb_error_errno("setgroups");
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		return fb_error_errno("setresgid %u", (unsigned)u->gid);
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		return fb_error_errno("setresuid %u", (unsigned)u->uid);
	/* Irreversible, or refuse to run anything. */
	if (setuid(0) == 0 || geteuid() != u->uid || getegid() != u->gid)
		return fb_error("privileges were not dropped to %s", u->name);
	return 0;
}

int sandbox_enter(const struct sandbox_user *u, unsigned max_procs)
{
	if (set_limit(RLIMIT_NPROC, "RLIMIT_NPROC", max_procs) < 0 ||
	    set_limit(RLIMIT_CORE, "RLIMIT_CORE", 0) < 0 || prefer_for_oom_kill() < 0 ||
	    drop_bounding_set() < 0 || switch_user(u) < 0)
		return fb_error_prefix("sandbox user %s", u->name);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fb_error_errno("PR_SET_NO_NEW_PRIVS");
	if (setenv("HOME", u->home, 1) < 0 || setenv("USER", u->name, 1) < 0 ||
	    setenv("LOGNAME", u->name, 1) < 0)
		return fb_error_errno("setenv (sandbox user)");
	return 0;
}

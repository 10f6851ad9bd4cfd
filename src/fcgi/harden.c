/* Containment of forkbox-fcgi's processes: unprivileged user, no
 * capabilities, resource limits, and the workers' seccomp filter. */
#include "fcgi/harden.h"

#include "fcgi/log.h"
#include "util/error.h"
#include "vmm/engine.h"
#include "vmm/seccomp.h"

#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <linux/capability.h>
#include <malloc.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

/* Descriptors per VM (VM, vCPU, vsock epoll + eventfd + socket pair, ...),
 * with room to spare, and for the worker itself. */
#define NOFILE_PER_VM 16
#define NOFILE_BASE   256

static int no_such_user(const char *user)
{
	return fb_error("daemon.user: no user \"%s\": create it (adduser --system "
			"--no-create-home --ingroup kvm %s) or set daemon.user = \"\" to keep "
			"running as root (not recommended, see docs/SECURITY.md)",
			user, user);
}

int fb_harden_check_user(const struct fb_daemon_config *d)
{
	if (geteuid() != 0 || !d->user[0])
		return 0;
	if (!getpwnam(d->user))
		return no_such_user(d->user);
	if (d->group[0] && !getgrnam(d->group))
		return fb_error("daemon.group: no group \"%s\"", d->group);
	return 0;
}

unsigned long fb_harden_nofile(const struct fb_config *cfg)
{
	if (cfg->daemon.rlimit_files)
		return cfg->daemon.rlimit_files;
	return NOFILE_BASE + NOFILE_PER_VM * (unsigned long)cfg->pool.max_parallel_vms;
}

/* Soft and hard limit both, so a compromised worker cannot raise it. */
static int limit_open_files(const struct fb_config *cfg)
{
	rlim_t want = fb_harden_nofile(cfg);
	struct rlimit cur, lim = {want, want};

	if (setrlimit(RLIMIT_NOFILE, &lim) == 0)
		return 0;
	if (errno != EPERM || getrlimit(RLIMIT_NOFILE, &cur))
		return fb_error_errno("setrlimit(RLIMIT_NOFILE, %lu)", (unsigned long)want);
	/* Not root, or a reload asking for more than the start allowed. */
	fb_log(FB_LOG_WARNING,
	       "open files limited to %lu, not %lu (the hard limit; raise it before starting)",
	       (unsigned long)cur.rlim_max, (unsigned long)want);
	lim.rlim_cur = lim.rlim_max = cur.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &lim))
		return fb_error_errno("setrlimit(RLIMIT_NOFILE, %lu)", (unsigned long)cur.rlim_max);
	return 0;
}

/* Guest memory must never reach a core file. */
static int no_dumps(void)
{
	struct rlimit zero = {0, 0};

	if (setrlimit(RLIMIT_CORE, &zero))
		return fb_error_errno("setrlimit(RLIMIT_CORE, 0)");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		return fb_error_errno("prctl(PR_SET_DUMPABLE, 0)");
	return 0;
}

/* While still root: no capability can come back through exec or ambient. */
static int drop_bounding_set(void)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			return fb_error_errno("prctl(PR_CAPBSET_DROP, %d)", cap);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return fb_error_errno("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	return 0;
}

/* Effective, permitted and inheritable sets emptied (a non-root process may
 * hold file capabilities too). */
static int clear_capabilities(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data))
		return fb_error_errno("capset (drop all capabilities)");
	return 0;
}

static int switch_user(const struct fb_daemon_config *d)
{
	struct passwd *pw = getpwnam(d->user);

	if (!pw)
		return no_such_user(d->user);
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (d->group[0]) {
		struct group *gr = getgrnam(d->group);
		if (!gr)
			return fb_error("daemon.group: no group \"%s\"", d->group);
		gid = gr->gr_gid;
	}
	if (uid == 0)
		return fb_error("daemon.user \"%s\" is root: name an unprivileged user", d->user);
	if (drop_bounding_set() || initgroups(d->user, gid))
		return fb_error_prefix("drop privileges to %s", d->user);
	if (setresgid(gid, gid, gid))
		return fb_error_errno("setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid))
		return fb_error_errno("setresuid %s", d->user);
	if (setuid(0) == 0)
		return fb_error("still able to become root after switching to %s", d->user);
	return 0;
}

int fb_harden_process(const struct fb_config *cfg)
{
	const struct fb_daemon_config *d = &cfg->daemon;

	if (limit_open_files(cfg))
		return -1;
	if (geteuid() == 0 && !d->user[0]) {
		fb_log(FB_LOG_WARNING, "running as root: daemon.user is empty (docs/SECURITY.md)");
		return no_dumps();
	}
	if (geteuid() == 0) {
		if (switch_user(d))
			return -1;
	} else if (d->user[0]) {
		struct passwd *pw = getpwnam(d->user);
		if (!pw || pw->pw_uid != geteuid())
			fb_log(FB_LOG_NOTICE, "not started as root: running as uid %u, not as %s",
			       (unsigned)geteuid(), d->user);
	}
	return clear_capabilities() || no_dumps() ? -1 : 0;
}

static enum fb_seccomp_mode seccomp_mode(const char *name)
{
	if (strcmp(name, "off") == 0)
		return FB_SECCOMP_OFF;
	if (strcmp(name, "log") == 0)
		return FB_SECCOMP_LOG;
	return FB_SECCOMP_ENFORCE;
}

int fb_harden_worker(const struct fb_config *cfg)
{
	struct fb_seccomp_options so = {.mode = seccomp_mode(cfg->daemon.seccomp),
					.report_fd = fb_log_fd()};

	if (limit_open_files(cfg))
		return -1;
	/* Done now, not lazily under the filter: the time zone file for log
	 * lines, jansson's hash seed (read from /dev/urandom), and malloc's
	 * arena limit, which glibc computes from /sys/devices/system/cpu/online
	 * once many threads allocate at once (a large batch). The limit is
	 * glibc's own default: 8 arenas per CPU. */
	tzset();
	json_object_seed(0);
	mallopt(M_ARENA_MAX, 8 * get_nprocs());
	/* What the engine reads under the filter (the execution costs'
	 * /proc/self/pagemap) is opened now; without it the costs lack their
	 * page counts, no more. */
	if (fb_engine_before_sandbox() < 0)
		fb_log(FB_LOG_WARNING, "worker: %s: executions report no page counts",
		       fb_error_last());
	if (fb_seccomp_install(&so))
		return -1;
	if (so.mode != FB_SECCOMP_ENFORCE)
		fb_log(FB_LOG_WARNING, "daemon.seccomp = \"%s\": this worker is not confined",
		       fb_seccomp_mode_name(so.mode));
	return 0;
}

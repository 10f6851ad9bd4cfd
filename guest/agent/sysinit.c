#include "sysinit.h"

#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct guest_mount {
	const char *source;
	const char *target;
	const char *fstype;
	unsigned long flags;
	const char *options;
};

/* devtmpfs first: /dev/console and the other mount points under /dev live there. */
static const struct guest_mount guest_mounts[] = {
    {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
    {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
    {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666"},
    {"tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
    {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
};

static int mount_one(const struct guest_mount *m)
{
	if (mkdir(m->target, 0755) < 0 && errno != EEXIST)
		return fb_error_errno("mkdir %s", m->target);
	if (mount(m->source, m->target, m->fstype, m->flags, m->options) == 0)
		return 0;
	/* The kernel may have mounted devtmpfs itself (CONFIG_DEVTMPFS_MOUNT). */
	if (errno == EBUSY)
		return 0;
	return fb_error_errno("mount %s on %s", m->fstype, m->target);
}

static int open_console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd < 0)
		return fb_error_errno("open /dev/console");
	for (int target = 0; target <= 2; target++) {
		if (fd != target && dup2(fd, target) < 0)
			return fb_error_errno("dup2 console to fd %d", target);
	}
	if (fd > 2)
		close(fd);
	return 0;
}

int sysinit_filesystems(void)
{
	umask(022);
	for (size_t i = 0; i < sizeof(guest_mounts) / sizeof(guest_mounts[0]); i++) {
		if (mount_one(&guest_mounts[i]) < 0)
			return -1;
	}
	return open_console();
}

int sysinit_environment(void)
{
	static const char *const vars[][2] = {
	    {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	    {"HOME", "/root"},
	    {"LANG", "C.UTF-8"},
	    {"PYTHONDONTWRITEBYTECODE", "1"},
	    {"PYTHONUNBUFFERED", "1"},
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		if (setenv(vars[i][0], vars[i][1], 1) < 0)
			return fb_error_errno("setenv %s", vars[i][0]);
	}
	return 0;
}

static int loopback_up(void)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return fb_error_errno("socket AF_INET");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	int ret = 0;
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
		ret = fb_error_errno("SIOCGIFFLAGS lo");
	} else {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
			ret = fb_error_errno("SIOCSIFFLAGS lo");
	}
	close(sock);
	return ret;
}

int sysinit_network(void)
{
	static const char hostname[] = "forkbox";
	if (sethostname(hostname, sizeof(hostname) - 1) < 0)
		return fb_error_errno("sethostname");
	return loopback_up();
}

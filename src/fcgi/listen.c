/* Listening sockets for the FastCGI pool. */
#include "fcgi/listen.h"

#include "util/error.h"

#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static bool is_unix_path(const char *listen)
{
	return listen[0] == '/' || listen[0] == '.';
}

static int set_owner(const struct fb_pool_config *pool)
{
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;

	if (pool->listen_owner[0]) {
		struct passwd *pw = getpwnam(pool->listen_owner);
		if (!pw)
			return fb_error("pool.listen_owner: no user \"%s\"", pool->listen_owner);
		uid = pw->pw_uid;
	}
	if (pool->listen_group[0]) {
		struct group *gr = getgrnam(pool->listen_group);
		if (!gr)
			return fb_error("pool.listen_group: no group \"%s\"", pool->listen_group);
		gid = gr->gr_gid;
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(pool->listen, uid, gid))
		return fb_error_errno("chown %s", pool->listen);
	if (chmod(pool->listen, pool->listen_mode))
		return fb_error_errno("chmod %s %04o", pool->listen, pool->listen_mode);
	return 0;
}

/* A socket file left by a previous run would make bind() fail. */
static int remove_stale(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return fb_error("%s exists and is not a socket", path);
	if (unlink(path))
		return fb_error_errno("unlink stale socket %s", path);
	return 0;
}

static int open_unix(const struct fb_pool_config *pool)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	if (strlen(pool->listen) >= sizeof(addr.sun_path))
		return fb_error("socket path %s is too long", pool->listen);
	strcpy(addr.sun_path, pool->listen);
	if (remove_stale(pool->listen))
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fb_error_errno("socket(AF_UNIX)");
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		fb_error_errno("bind %s", pool->listen);
		close(fd);
		return -1;
	}
	if (set_owner(pool))
		goto fail;
	if (listen(fd, pool->backlog)) {
		fb_error_errno("listen on %s", pool->listen);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	unlink(pool->listen);
	return -1;
}

/* "host:port", "[v6]:port" or "port" -> host (NULL = any) and port. */
static int split_host_port(const char *listen, char *host, size_t hsize, const char **port)
{
	const char *colon = strrchr(listen, ':');

	if (!colon) {
		*port = listen;
		return 0;
	}
	const char *h = listen;
	size_t hlen = (size_t)(colon - listen);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (hlen >= hsize)
		return fb_error("listen address %s: host part too long", listen);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = colon + 1;
	return 0;
}

static int bind_first(struct addrinfo *list, const char *listen_addr, int backlog)
{
	int one = 1;

	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			fb_error_errno("socket for %s", listen_addr);
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, backlog)) {
			fb_error_errno("bind/listen on %s", listen_addr);
			close(fd);
			continue;
		}
		return fd;
	}
	return -1;
}

static int open_tcp(const struct fb_pool_config *pool)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *list;
	char host[256] = "";
	const char *port = NULL;

	if (split_host_port(pool->listen, host, sizeof(host), &port))
		return -1;
	int err = getaddrinfo(host[0] ? host : NULL, port, &hints, &list);
	if (err)
		return fb_error("listen address %s: %s", pool->listen, gai_strerror(err));
	int fd = bind_first(list, pool->listen, pool->backlog);
	freeaddrinfo(list);
	return fd;
}

int fb_listen_open(const struct fb_pool_config *pool)
{
	if (!pool->listen[0])
		return fb_error("pool.listen is empty");
	return is_unix_path(pool->listen) ? open_unix(pool) : open_tcp(pool);
}

int fb_listen_systemd(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");

	if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) < 1)
		return -1;
	/* Not for our children: they inherit the fd, not the activation. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return 3;
}

bool fb_listen_is_listener(int fd)
{
	int accepting = 0;
	socklen_t len = sizeof(accepting);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0 && accepting;
}

int fb_listen_set_allowed(const struct fb_pool_config *pool)
{
	size_t total = 1;

	if (!pool->n_allowed_clients) {
		unsetenv("FCGI_WEB_SERVER_ADDRS");
		return 0;
	}
	for (size_t i = 0; i < pool->n_allowed_clients; i++)
		total += strlen(pool->allowed_clients[i]) + 1;
	char *list = calloc(1, total);
	if (!list)
		return fb_error("out of memory");
	for (size_t i = 0; i < pool->n_allowed_clients; i++) {
		if (i)
			strcat(list, ",");
		strcat(list, pool->allowed_clients[i]);
	}
	int rc = setenv("FCGI_WEB_SERVER_ADDRS", list, 1) ? fb_error_errno("setenv") : 0;
	free(list);
	return rc;
}

void fb_listen_cleanup(const struct fb_pool_config *pool)
{
	if (is_unix_path(pool->listen))
		unlink(pool->listen);
}

#include "serve.h"

#include "children.h"
#include "log.h"

#include "util/error.h"

#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int vsock_listen(unsigned int port)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fb_error_errno("socket AF_VSOCK");
	struct sockaddr_vm addr;
	memset(&addr, 0, sizeof(addr));
	addr.svm_family = AF_VSOCK;
	addr.svm_cid = VMADDR_CID_ANY;
	addr.svm_port = port;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fb_error_errno("bind vsock port %u", port);
		close(fd);
		return -1;
	}
	if (listen(fd, 4) < 0) {
		fb_error_errno("listen vsock port %u", port);
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait for a connection while reaping orphans (PID 1 inherits them all). */
static int accept_reaping(int listen_fd)
{
	for (;;) {
		struct pollfd pfds[2] = {{.fd = listen_fd, .events = POLLIN},
					 {.fd = children_fd(), .events = POLLIN}};
		if (poll(pfds, 2, -1) < 0 && errno != EINTR)
			return fb_error_errno("poll (vsock listener)");
		int status;
		children_reap(-1, &status);
		if (!(pfds[0].revents & POLLIN))
			continue;
		int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn >= 0)
			return conn;
		if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
			return fb_error_errno("accept vsock");
	}
}

void serve_guest(struct agent_worker *w)
{
	int listen_fd = vsock_listen(AGENT_VSOCK_PORT);
	if (listen_fd < 0)
		agent_fatal("%s", fb_error_last());
	/* The host snapshots the VM as soon as it reads this line. */
	agent_log("ready");
	for (;;) {
		int conn = accept_reaping(listen_fd);
		if (conn < 0)
			agent_fatal("%s", fb_error_last());
		if (serve_connection(conn, w, true) < 0)
			agent_log("session: %s", fb_error_last());
	}
}

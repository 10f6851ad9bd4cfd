/* Listening sockets (unix with mode, TCP), socket-activation detection,
 * allowed-clients export, and the sd_notify datagram. */
#include "fcgi/listen.h"
#include "fcgi/notify.h"
#include "util/error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

static void test_unix_socket(void **state)
{
	struct fb_pool_config pool = {.listen_mode = 0640, .backlog = 8};
	struct stat st;

	(void)state;
	snprintf(pool.listen, sizeof(pool.listen), "/tmp/fb-test-listen-%d.sock", (int)getpid());
	int fd = fb_listen_open(&pool);
	assert_true(fd >= 0);
	assert_true(fb_listen_is_listener(fd));
	assert_int_equal(stat(pool.listen, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0640);
	close(fd);
	/* A stale socket file from a previous run is replaced. */
	fd = fb_listen_open(&pool);
	assert_true(fd >= 0);
	close(fd);
	fb_listen_cleanup(&pool);
	assert_int_equal(stat(pool.listen, &st), -1);
	/* A regular file in the way is not removed. */
	FILE *f = fopen(pool.listen, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(fb_listen_open(&pool), -1);
	assert_non_null(strstr(fb_error_last(), "is not a socket"));
	unlink(pool.listen);
}

static void test_tcp_socket(void **state)
{
	struct fb_pool_config pool = {.listen = "127.0.0.1:0", .backlog = 8};

	(void)state;
	int fd = fb_listen_open(&pool);
	assert_true(fd >= 0);
	assert_true(fb_listen_is_listener(fd));
	close(fd);
	strcpy(pool.listen, "127.0.0.1:notaport");
	assert_int_equal(fb_listen_open(&pool), -1);
	assert_non_null(strstr(fb_error_last(), "127.0.0.1:notaport"));
	/* A pipe is no listener. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_false(fb_listen_is_listener(p[0]));
	close(p[0]);
	close(p[1]);
}

static void test_systemd_and_allowed(void **state)
{
	char pid[32];
	char *list[] = {"10.0.0.1", "10.0.0.2"};
	struct fb_pool_config pool = {.allowed_clients = list, .n_allowed_clients = 2};

	(void)state;
	unsetenv("LISTEN_PID");
	assert_int_equal(fb_listen_systemd(), -1);
	setenv("LISTEN_PID", "1", 1); /* someone else's */
	setenv("LISTEN_FDS", "1", 1);
	assert_int_equal(fb_listen_systemd(), -1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	assert_int_equal(fb_listen_systemd(), 3);
	assert_null(getenv("LISTEN_FDS")); /* not passed on to workers */
	assert_int_equal(fb_listen_set_allowed(&pool), 0);
	assert_string_equal(getenv("FCGI_WEB_SERVER_ADDRS"), "10.0.0.1,10.0.0.2");
	pool.n_allowed_clients = 0;
	assert_int_equal(fb_listen_set_allowed(&pool), 0);
	assert_null(getenv("FCGI_WEB_SERVER_ADDRS"));
}

static int bind_dgram(struct sockaddr_un *addr, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, len), 0);
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	assert_int_equal(n, (ssize_t)strlen(want));
	buf[n] = '\0';
	assert_string_equal(buf, want);
}

static void test_notify(void **state)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	char env[108];

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(fb_notify("READY=1"), 0);
	/* Path socket. */
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/tmp/fb-test-notify-%d", (int)getpid());
	int fd = bind_dgram(&addr, sizeof(addr));
	setenv("NOTIFY_SOCKET", addr.sun_path, 1);
	assert_int_equal(fb_notify("READY=1"), 1);
	expect_datagram(fd, "READY=1");
	close(fd);
	unlink(addr.sun_path);
	/* Abstract socket: "@name". */
	snprintf(env, sizeof(env), "@fb-test-notify-%d", (int)getpid());
	memset(addr.sun_path, 0, sizeof(addr.sun_path));
	memcpy(addr.sun_path + 1, env + 1, strlen(env) - 1);
	fd = bind_dgram(&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(env)));
	setenv("NOTIFY_SOCKET", env, 1);
	assert_int_equal(fb_notify("STOPPING=1"), 1);
	expect_datagram(fd, "STOPPING=1");
	close(fd);
	/* Nobody listening: an error with context. */
	setenv("NOTIFY_SOCKET", "/tmp/fb-test-notify-nobody", 1);
	assert_int_equal(fb_notify("READY=1"), -1);
	assert_non_null(strstr(fb_error_last(), "sd_notify"));
	setenv("NOTIFY_SOCKET", "relative", 1);
	assert_int_equal(fb_notify("READY=1"), -1);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unix_socket),
	    cmocka_unit_test(test_tcp_socket),
	    cmocka_unit_test(test_systemd_and_allowed),
	    cmocka_unit_test(test_notify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

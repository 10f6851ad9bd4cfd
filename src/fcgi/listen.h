/* The FastCGI listening socket: created from pool.listen, or inherited
 * (systemd socket activation via LISTEN_FDS, or fd 0 from spawn-fcgi /
 * Apache mod_fcgid). */
#ifndef FORKBOX_FCGI_LISTEN_H
#define FORKBOX_FCGI_LISTEN_H

#include "util/config.h"

#include <stdbool.h>

/* Bind and listen on pool->listen ("/path.sock", "host:port", "[v6]:port" or
 * "port"); a unix socket gets listen_owner/group/mode. Returns the fd, or -1
 * with fb_error_last(). */
int fb_listen_open(const struct fb_pool_config *pool);

/* The socket passed by systemd (LISTEN_PID is us, LISTEN_FDS >= 1): fd 3.
 * -1 when not socket-activated. */
int fb_listen_systemd(void);

/* Whether fd is a listening socket (an inherited FastCGI socket on fd 0). */
bool fb_listen_is_listener(int fd);

/* Export pool.listen_allowed_clients as FCGI_WEB_SERVER_ADDRS, which libfcgi
 * checks on every TCP (IPv4) connection it accepts. Call before FCGX_Init. */
int fb_listen_set_allowed(const struct fb_pool_config *pool);

/* Remove a unix socket we created (on shutdown). */
void fb_listen_cleanup(const struct fb_pool_config *pool);

#endif

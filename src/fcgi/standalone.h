/* Modes without a master process:
 *  - plain CGI: one request from the environment + stdin, response on stdout;
 *  - inherited FastCGI socket on fd 0 (Apache mod_fcgid, spawn-fcgi): this
 *    process is one worker; the spawner manages how many run. */
#ifndef FORKBOX_FCGI_STANDALONE_H
#define FORKBOX_FCGI_STANDALONE_H

#include "fcgi/runtime.h"

/* Both take a runtime with its config loaded and return an exit status. */
int fb_serve_cgi(struct fb_runtime *rt);
int fb_serve_inherited(struct fb_runtime *rt, int listen_fd);

#endif

/* struct fb_conn on top of a libfcgi request. */
#ifndef FORKBOX_FCGI_FCGX_CONN_H
#define FORKBOX_FCGI_FCGX_CONN_H

#include "fcgi/io.h"

#include <fcgiapp.h>

void fb_fcgx_conn_init(struct fb_conn *conn, FCGX_Request *req);

#endif

/* systemd readiness notification (sd_notify protocol, without libsystemd):
 * one datagram "READY=1" etc. to the unix socket named by $NOTIFY_SOCKET. */
#ifndef FORKBOX_FCGI_NOTIFY_H
#define FORKBOX_FCGI_NOTIFY_H

/* Returns 1 when sent, 0 when NOTIFY_SOCKET is unset, -1 on error. */
int fb_notify(const char *state);

#endif

/* Console messages of the guest agent, all prefixed "forkbox-agent: ".
 *
 * As PID 1 the agent must never exit (the kernel would panic), so a fatal
 * error powers the VM off instead; the VMM treats that as a failed guest. */
#ifndef FORKBOX_AGENT_LOG_H
#define FORKBOX_AGENT_LOG_H

#include <stdbool.h>

/* Whether the agent runs as PID 1 of a guest (set once by main). */
extern bool agent_is_pid1;

void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "forkbox-agent: fatal: <reason>" and power off (PID 1) or exit(1). */
void agent_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

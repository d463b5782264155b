/* Best-effort copies of durable records to the Linux audit subsystem
 * (libaudit) and syslog. The hash-chained trail is the record of
 * authority; forwarding runs on its own thread with a bounded queue so
 * a slow auditd never slows an acknowledgement. Drops are counted. */
#ifndef BW_AUDIT_FORWARD_H
#define BW_AUDIT_FORWARD_H

#include <stddef.h>
#include <stdint.h>

struct audit_forward;

#define AUDIT_FORWARD_QUEUE	8192
#define AUDIT_FORWARD_MSG_MAX	1024

/* Starts the forwarder. When USE_LIBAUDIT is set and audit_open() fails,
 * or USE_SYSLOG is set and no socket is at /dev/log, the forwarder
 * still starts and *RET_NOTE (when not NULL; it must be NULL on entry)
 * receives one allocated sentence saying what is unavailable and why.
 * Returns 0 or -ENOMEM / -errno from thread creation. */
int audit_forward_start(int use_libaudit, int use_syslog,
    struct audit_forward **ret, char **ret_note);

/* Queues a copy of MSG (cut to AUDIT_FORWARD_MSG_MAX). Never blocks. */
void audit_forward_push(struct audit_forward *f, const char *msg, size_t len,
    int success);

/* 1 when libaudit accepted every message so far. */
int audit_forward_libaudit_ok(struct audit_forward *f);
/* 1 when syslog forwarding is on and /dev/log was a socket when last
 * looked at (at start, then at most every 5 s while messages flow). */
int audit_forward_syslog_ok(struct audit_forward *f);
uint64_t audit_forward_dropped(struct audit_forward *f);
uint64_t audit_forward_sent(struct audit_forward *f);

/* Returns 0 when audit_open() works in this process, else -errno.
 * (Tests use it; <libaudit.h> cannot share a file with trail.h, both
 * define struct audit_status.) */
int audit_forward_probe(void);

/* Sends what is queued, stops the thread, frees F. Accepts NULL. */
void audit_forward_stop(struct audit_forward *f);

#endif

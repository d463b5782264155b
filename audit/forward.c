#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libaudit.h>

#include "audit/forward.h"
#include "lib/macro.h"

struct fwd_msg {
	char	*text;
	int	 success;
};

struct audit_forward {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	pthread_t	 thread;
	struct fwd_msg	 q[AUDIT_FORWARD_QUEUE];
	size_t		 head, count;
	int		 stopping;
	int		 audit_fd;	/* -1 when libaudit is off or unavailable */
	int		 use_syslog;
	int		 syslog_up;	/* /dev/log was a socket (MU) ... */
	time_t		 syslog_checked;	/* ... when last looked at */
	int		 libaudit_ok;
	uint64_t	 dropped, sent;
};

/* Whether the local syslog socket exists, looked at once per
 * SYSLOG_RECHECK_S: without a listener glibc's syslog() opens, connects
 * and closes a socket for every message, which under load costs more
 * than the message (the copy is lost either way). */
#define SYSLOG_RECHECK_S 5

static int
syslog_reachable(struct audit_forward *f)
{
	struct stat	 sb;
	time_t		 now = time(NULL);
	int		 up;

	if (now - f->syslog_checked < SYSLOG_RECHECK_S && now >= f->syslog_checked)
		return f->syslog_up;
	up = stat(_PATH_LOG, &sb) == 0 && S_ISSOCK(sb.st_mode);
	f->syslog_checked = now;
	pthread_mutex_lock(&f->mu);
	f->syslog_up = up;
	pthread_mutex_unlock(&f->mu);
	return up;
}

static void
send_one(struct audit_forward *f, const struct fwd_msg *m)
{
	if (f->audit_fd >= 0) {
		/* AUDIT_TRUSTED_APP: "trusted app msg - freestyle text".
		 * A daemon has no terminal: "?" spares libaudit looking
		 * for one on every message (what it would find anyway). */
		if (audit_log_user_message(f->audit_fd, AUDIT_TRUSTED_APP, m->text,
		    NULL, NULL, "?", m->success) <= 0) {
			pthread_mutex_lock(&f->mu);
			f->libaudit_ok = 0;
			pthread_mutex_unlock(&f->mu);
		}
	}
	if (f->use_syslog && syslog_reachable(f))
		syslog(LOG_AUTHPRIV | (m->success ? LOG_INFO : LOG_NOTICE), "%s",
		    m->text);
}

static void *
forward_main(void *arg)
{
	struct audit_forward *f = arg;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		struct fwd_msg m;

		while (f->count == 0 && !f->stopping)
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->count == 0)
			break;
		m = f->q[f->head];
		f->head = (f->head + 1) % AUDIT_FORWARD_QUEUE;
		f->count--;
		pthread_mutex_unlock(&f->mu);
		send_one(f, &m);
		free(m.text);
		pthread_mutex_lock(&f->mu);
		f->sent++;
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int
audit_forward_start(int use_libaudit, int use_syslog,
    struct audit_forward **ret, char **ret_note)
{
	struct audit_forward *f;
	int r;

	if (!(f = calloc(1, sizeof(*f))))
		return -ENOMEM;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->audit_fd = -1;
	f->use_syslog = use_syslog;
	f->syslog_checked = (time_t)-SYSLOG_RECHECK_S * 2;
	if (use_libaudit) {
		f->audit_fd = audit_open();
		if (f->audit_fd < 0) {
			if (ret_note && asprintf(ret_note,
			    "libaudit unavailable (audit_open: %s); records are not "
			    "copied to the Linux audit subsystem", strerror(errno)) < 0)
				*ret_note = NULL;
		} else {
			f->libaudit_ok = 1;
		}
	}
	if (use_syslog) {
		openlog("bulwark-audit", LOG_PID | LOG_NDELAY, LOG_AUTHPRIV);
		if (!syslog_reachable(f) && ret_note) {
			const char *syslog_note = "syslog unavailable (no socket at "
			    _PATH_LOG "); records are not copied to syslog until a "
			    "syslog daemon listens there";
			char *both = NULL;

			if (!*ret_note)
				*ret_note = strdup(syslog_note);
			else if (asprintf(&both, "%s; %s", *ret_note, syslog_note) >= 0) {
				free(*ret_note);
				*ret_note = both;
			}
		}
	}
	if ((r = pthread_create(&f->thread, NULL, forward_main, f)) != 0) {
		if (f->audit_fd >= 0)
			audit_close(f->audit_fd);
		free(f);
		return -r;
	}
	*ret = f;
	return 0;
}

void
audit_forward_push(struct audit_forward *f, const char *msg, size_t len,
    int success)
{
	char *copy;

	if (!f)
		return;
	if (len > AUDIT_FORWARD_MSG_MAX)
		len = AUDIT_FORWARD_MSG_MAX;
	copy = strndup(msg, len);
	pthread_mutex_lock(&f->mu);
	if (!copy || f->count == AUDIT_FORWARD_QUEUE) {
		f->dropped++;
		free(copy);
	} else {
		f->q[(f->head + f->count) % AUDIT_FORWARD_QUEUE] =
		    (struct fwd_msg){ copy, success };
		f->count++;
		pthread_cond_signal(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
}

int
audit_forward_libaudit_ok(struct audit_forward *f)
{
	int ok;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->mu);
	ok = f->libaudit_ok;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

int
audit_forward_syslog_ok(struct audit_forward *f)
{
	int ok;

	if (!f || !f->use_syslog)
		return 0;
	pthread_mutex_lock(&f->mu);
	ok = f->syslog_up;
	pthread_mutex_unlock(&f->mu);
	return ok;
}

uint64_t
audit_forward_dropped(struct audit_forward *f)
{
	uint64_t n;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->mu);
	n = f->dropped;
	pthread_mutex_unlock(&f->mu);
	return n;
}

uint64_t
audit_forward_sent(struct audit_forward *f)
{
	uint64_t n;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->mu);
	n = f->sent;
	pthread_mutex_unlock(&f->mu);
	return n;
}

void
audit_forward_stop(struct audit_forward *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->stopping = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	if (f->audit_fd >= 0)
		audit_close(f->audit_fd);
	if (f->use_syslog)
		closelog();
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}

int
audit_forward_probe(void)
{
	int fd = audit_open();

	if (fd < 0)
		return -errno;
	audit_close(fd);
	return 0;
}

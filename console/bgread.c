/* The console's reads off the key loop; see bgread.h. */
#define _GNU_SOURCE	/* gettid */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "client/client.h"
#include "console/bgread.h"
#include "console/fetch.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

#define CBG_PATH_MAX	1024
#define CBG_WHY_MAX	160
#define CBG_NICE	10


struct cbg {
	const struct client_conf	*conf;
	SSL_CTX				*ctx;
	struct client_conn		*cc;	/* the thread's own */
	pthread_t			 thread;
	pthread_mutex_t			 lock;
	pthread_cond_t			 cond;
	/* under lock: the request asked for and not started (ASKED), the
	 * result not taken (DONE) */
	int				 asked, done, quit;
	unsigned long			 tag;
	char				 path[CBG_PATH_MAX];
	char				 fields[CBG_PATH_MAX];
	char				 from[CBG_PATH_MAX];
	int				 has_fields, has_from;
	json_t				*doc;
	char				 why[CBG_WHY_MAX];
	char				*err;
};

/* One read, outside the lock: the thread alone uses bg->cc. */
static void
read_one(struct cbg *bg, const char *path, const char *fields,
    const char *from, json_t **doc, char *why, size_t whylen, char **err)
{
	struct client_conn_opts o = { .ctx = bg->ctx, .timeout_s = 10,
	    .reconnect = 1 };

	if (!bg->cc && client_conn_open_opts(bg->conf, &o, &bg->cc, err) < 0)
		return;
	if (cfetch_list(bg->cc, path, fields, from, doc, why, whylen, err) < 0 &&
	    !*err)
		*err = strdup("the read failed");
}

static void *
run(void *arg)
{
	struct cbg	*bg = arg;
	char		 path[CBG_PATH_MAX], fields[CBG_PATH_MAX];
	char		 from[CBG_PATH_MAX];
	int		 has_fields, has_from;

	unsigned long	 tag;

	/* the reader's parse of a large list yields the CPU to the key
	 * loop (a thread's nice value is its own on Linux); failing to
	 * lower it leaves it as it is */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), CBG_NICE);
	pthread_mutex_lock(&bg->lock);
	for (;;) {
		while (!bg->quit && !bg->asked)
			pthread_cond_wait(&bg->cond, &bg->lock);
		if (bg->quit)
			break;
		bg->asked = 0;
		tag = bg->tag;
		memcpy(path, bg->path, sizeof(path));
		memcpy(fields, bg->fields, sizeof(fields));
		memcpy(from, bg->from, sizeof(from));
		has_fields = bg->has_fields;
		has_from = bg->has_from;
		pthread_mutex_unlock(&bg->lock);
		{
			json_t	*doc = NULL;
			char	 why[CBG_WHY_MAX] = "", *err = NULL;

			read_one(bg, path, has_fields ? fields : NULL,
			    has_from ? from : NULL, &doc, why, sizeof(why),
			    &err);
			pthread_mutex_lock(&bg->lock);
			if (bg->asked) {	/* superseded meanwhile */
				json_decref(doc);
				free(err);
				continue;
			}
			bg->doc = doc;
			bg->err = err;
			memcpy(bg->why, why, sizeof(why));
			bg->tag = tag;
			bg->done = 1;
		}
	}
	pthread_mutex_unlock(&bg->lock);
	return NULL;
}

int
cbg_new(const struct client_conf *conf, SSL_CTX *ctx, struct cbg **ret,
    char **ret_err)
{
	struct cbg	*bg = calloc(1, sizeof(*bg));
	int		 r;

	if (!bg)
		return -ENOMEM;
	bg->conf = conf;
	bg->ctx = ctx;
	pthread_mutex_init(&bg->lock, NULL);
	pthread_cond_init(&bg->cond, NULL);
	if ((r = pthread_create(&bg->thread, NULL, run, bg)) != 0) {
		pthread_cond_destroy(&bg->cond);
		pthread_mutex_destroy(&bg->lock);
		free(bg);
		return errf(-r, ret_err, "a reader thread: %s", strerror(r));
	}
	*ret = bg;
	return 0;
}

int
cbg_start(struct cbg *bg, const char *path, const char *fields,
    const char *from, unsigned long tag)
{
	if (strlen(path) >= sizeof(bg->path) || (fields &&
	    strlen(fields) >= sizeof(bg->fields)) || (from &&
	    strlen(from) >= sizeof(bg->from)))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&bg->lock);
	snprintf(bg->path, sizeof(bg->path), "%s", path);
	snprintf(bg->fields, sizeof(bg->fields), "%s", fields ? fields : "");
	bg->has_fields = fields != NULL;
	snprintf(bg->from, sizeof(bg->from), "%s", from ? from : "");
	bg->has_from = from != NULL;
	bg->tag = tag;
	bg->asked = 1;
	if (bg->done) {		/* an older request's */
		json_decref(TAKE_PTR(bg->doc));
		free(TAKE_PTR(bg->err));
		bg->done = 0;
	}
	pthread_cond_signal(&bg->cond);
	pthread_mutex_unlock(&bg->lock);
	return 0;
}

int
cbg_take(struct cbg *bg, unsigned long *ret_tag, json_t **ret_doc, char *why,
    size_t whylen, char **ret_err)
{
	int done;

	/* the key loop never waits for the reader: a result it holds the
	 * lock over (a few stores) is taken at the next tick */
	if (pthread_mutex_trylock(&bg->lock) != 0)
		return 0;
	if ((done = bg->done)) {
		*ret_tag = bg->tag;
		*ret_doc = TAKE_PTR(bg->doc);
		*ret_err = TAKE_PTR(bg->err);
		snprintf(why, whylen, "%s", bg->why);
		bg->done = 0;
	}
	pthread_mutex_unlock(&bg->lock);
	return done;
}

void
cbg_free(struct cbg *bg)
{
	if (!bg)
		return;
	pthread_mutex_lock(&bg->lock);
	bg->quit = 1;
	pthread_cond_signal(&bg->cond);
	pthread_mutex_unlock(&bg->lock);
	pthread_join(bg->thread, NULL);
	client_conn_close(bg->cc);
	json_decref(bg->doc);
	free(bg->err);
	pthread_cond_destroy(&bg->cond);
	pthread_mutex_destroy(&bg->lock);
	free(bg);
}

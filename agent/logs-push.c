/* Pushing the instance logs readers ask for; see logs-push.h. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agent/logs-push.h"
#include "agent/runtime.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/logcap.h"
#include "lib/macro.h"

#define LP_WANT_MAX		128		/* logs asked for at once */
#define LP_CHUNK_MAX		(256 * 1024)	/* per log, whatever is asked */
/* Raw bytes in one push: escaped in JSON it stays under the API's
 * 1 MiB body limit; what does not fit goes in the next push. */
#define LP_PUSH_MAX		(384 * 1024)
#define LP_PERIOD_MIN_MS	50
#define LP_PERIOD_MAX_MS	5000

struct lp_want {
	char		uid[RUNTIME_ID_MAX + 1];
	long long	after;		/* -1: the last lines */
};

struct logs_push {
	struct lp_want	want[LP_WANT_MAX];
	size_t		nwant;
	size_t		chunk_max;
	unsigned	period_ms;
};

int
logs_push_new(struct logs_push **ret)
{
	struct logs_push *lp = calloc(1, sizeof(*lp));

	if (!lp)
		return -ENOMEM;
	lp->chunk_max = 64 * 1024;
	lp->period_ms = 200;
	*ret = lp;
	return 0;
}

void
logs_push_free(struct logs_push *lp)
{
	free(lp);
}

unsigned
logs_push_period_ms(const struct logs_push *lp)
{
	return lp->period_ms;
}

/* BUF[0..LEN) as a JSON string: control characters other than tab and
 * newline become '?', and so do bytes above 0x7f when the text is not
 * UTF-8 (a line cut inside a character). Same length, so offsets hold. */
static json_t *
log_text(char *buf, size_t len)
{
	json_t *s;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 && buf[i] != '\n' &&
		    buf[i] != '\t')
			buf[i] = '?';
	if ((s = json_stringn(buf, len)))
		return s;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] >= 0x7f)
			buf[i] = '?';
	return json_stringn(buf, len);
}

/* The chunk of W's log to push (NULL: nothing new), within *BUDGET. */
static json_t *
log_chunk(struct logs_push *lp, struct runtime *rt, const struct lp_want *w,
    size_t *budget)
{
	_cleanup_free_ char	*path = NULL, *buf = NULL;
	struct logcap_info	 info;
	size_t			 len, max = lp->chunk_max < *budget ?
	    lp->chunk_max : *budget;
	json_t			*data;
	int			 r;

	if (runtime_check_id(w->uid, NULL) < 0 ||
	    runtime_log_path(rt, w->uid, &path) < 0)
		return json_pack("{s:s, s:b}", "uid", w->uid, "missing", 1);
	r = w->after < 0 ? logcap_tail(path, 0, max, &buf, &len, &info) :
	    logcap_read(path, (uint64_t)w->after, max, &buf, &len, &info);
	if (r < 0)
		return json_pack("{s:s, s:b}", "uid", w->uid, "missing", 1);
	if (w->after >= 0 && len == 0 && info.from == (uint64_t)w->after)
		return NULL;
	*budget -= len;
	if (!(data = log_text(buf, len)))
		return NULL;
	return json_pack("{s:s, s:I, s:I, s:I, s:o}", "uid", w->uid,
	    "offset", (json_int_t)info.from, "end", (json_int_t)info.end,
	    "dropped", (json_int_t)info.dropped, "data", data);
}

/* Keeps the list of logs asked for from the answer ANS. */
static void
take_wants(struct logs_push *lp, const json_t *ans)
{
	const json_t	*w;
	json_int_t	 v;
	size_t		 i;

	lp->nwant = 0;
	json_array_foreach(json_object_get(ans, "want"), i, w) {
		const char	*uid = json_string_value(json_object_get(w,
		    "uid"));
		struct lp_want	*x = &lp->want[lp->nwant];

		if (lp->nwant == LP_WANT_MAX)
			break;
		if (!uid || strlen(uid) >= sizeof(x->uid))
			continue;
		snprintf(x->uid, sizeof(x->uid), "%s", uid);
		x->after = json_integer_value(json_object_get(w, "after"));
		lp->nwant++;
	}
	v = json_integer_value(json_object_get(ans, "push_ms"));
	if (v >= LP_PERIOD_MIN_MS && v <= LP_PERIOD_MAX_MS)
		lp->period_ms = (unsigned)v;
	v = json_integer_value(json_object_get(ans, "chunk_max"));
	if (v >= 4096 && v <= LP_CHUNK_MAX)
		lp->chunk_max = (size_t)v;
}

int
logs_push_exchange(struct logs_push *lp, struct runtime *rt,
    const char *node, agent_run_http_fn http, void *ctx, char **ret_err)
{
	_cleanup_json_ json_t	*logs = json_array(), *req = NULL, *ans = NULL;
	_cleanup_free_ char	*text = NULL, *body = NULL;
	char			 path[128];
	size_t			 budget = LP_PUSH_MAX;
	int			 status = 0, r;

	if (!logs)
		return -ENOMEM;
	for (size_t i = 0; i < lp->nwant && budget > 0; i++) {
		json_t *c = log_chunk(lp, rt, &lp->want[i], &budget);

		if (c)
			json_array_append_new(logs, c);
	}
	if (!(req = json_pack("{s:O}", "logs", logs)) ||
	    !(text = json_dumps(req, JSON_COMPACT)))
		return -ENOMEM;
	snprintf(path, sizeof(path), "/v1/logs/nodes/%s", node);
	if ((r = http(ctx, "POST", path, text, &status, &body, ret_err)) < 0)
		return r;
	if (status == 404) {
		/* A control plane without the endpoint: nothing to push. */
		lp->nwant = 0;
		return 0;
	}
	if (status != 200)
		return errf(-BW_E_UNAVAILABLE, ret_err, "log push refused "
		    "(HTTP %d)", status);
	if (!(ans = json_loads(body, 0, NULL)))
		return errf(-BW_E_CORRUPT, ret_err, "log push: answer is not "
		    "JSON");
	take_wants(lp, ans);
	return (int)lp->nwant;
}

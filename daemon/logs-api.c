/* Instance logs relayed from the nodes; see logs-api.h. Everything here
 * runs on the API server's loop thread. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "controlplane/resource.h"
#include "controlplane/store.h"
#include "daemon/logs-api.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

/* One instance's log as far as readers have asked for it: the bytes of
 * logical offsets [start, end) that its node pushed last. */
struct logs_stream {
	struct logs_stream	*next;
	char			 uid[64], node[64];
	char			*buf;
	size_t			 len;
	uint64_t		 start, end;
	uint64_t		 dropped;
	bool			 have;		/* the node answered */
	bool			 missing;	/* the node has no log for it */
	int64_t			 want_until, used_at;	/* monotonic ms */
};

/* A principal reading a stream, for the per-principal bound. */
struct logs_reader {
	struct logs_reader	*next;
	char			 principal[64];
	const struct logs_stream *stream;
	int64_t			 seen_at;
};

void
logs_api_init(struct logs_api *la, struct api_server *srv)
{
	*la = (struct logs_api){ .srv = srv };
}

static void
stream_free(struct logs_stream *s)
{
	if (s) {
		free(s->buf);
		free(s);
	}
}

void
logs_api_free(struct logs_api *la)
{
	while (la->streams) {
		struct logs_stream *s = la->streams;

		la->streams = s->next;
		stream_free(s);
	}
	while (la->readers) {
		struct logs_reader *r = la->readers;

		la->readers = r->next;
		free(r);
	}
	la->nstreams = 0;
}

/* Forgets readers that stopped asking and streams nobody reads. */
static void
logs_gc(struct logs_api *la, int64_t now)
{
	struct logs_reader	**rp = &la->readers;
	struct logs_stream	**sp = &la->streams;

	while (*rp) {
		struct logs_reader *r = *rp;

		if (now - r->seen_at > LOGS_WANT_S * 1000) {
			*rp = r->next;
			free(r);
		} else
			rp = &r->next;
	}
	while (*sp) {
		struct logs_stream *s = *sp;

		if (now - s->used_at > LOGS_IDLE_S * 1000) {
			*sp = s->next;
			/* No reader names it any more (their entries end
			 * sooner). */
			stream_free(s);
			la->nstreams--;
		} else
			sp = &s->next;
	}
}

static struct logs_stream *
stream_find(struct logs_api *la, const char *uid)
{
	for (struct logs_stream *s = la->streams; s; s = s->next)
		if (strcmp(s->uid, uid) == 0)
			return s;
	return NULL;
}

/* Counts PRINCIPAL against the bound as a reader of S. */
static int
reader_admit(struct logs_api *la, const char *principal,
    const struct logs_stream *s, int64_t now, char **ret_err)
{
	struct logs_reader	*r;
	unsigned		 n = 0;

	for (r = la->readers; r; r = r->next) {
		if (strcmp(r->principal, principal) != 0)
			continue;
		if (r->stream == s) {
			r->seen_at = now;
			return 0;
		}
		n++;
	}
	if (n >= LOGS_PER_PRINCIPAL)
		return errf(-EBUSY, ret_err, "%s reads %u logs already (at "
		    "most %d at once)", principal, n, LOGS_PER_PRINCIPAL);
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	snprintf(r->principal, sizeof(r->principal), "%s", principal);
	r->stream = s;
	r->seen_at = now;
	r->next = la->readers;
	la->readers = r;
	return 0;
}

/* The uid and node of instance NAME of TENANT (whose reading ID's
 * authorisation decides). */
static int
instance_lookup(struct logs_api *la, const struct authz_identity *id,
    const char *tenant, const char *name, char *uid, size_t uid_len,
    char *node, size_t node_len, char **ret_err)
{
	const struct res_kind	*k = res_kind_by_plural("instances");
	_cleanup_json_ json_t	*doc = NULL;
	struct store_kv		*kv = NULL;
	char			 key[RES_KEY_MAX];
	const char		*u, *n;
	int			 r;

	if (!k)
		return -BW_E_NOTFOUND;
	/* A node reads the instances bound to it (decided per object in
	 * api.c), not their logs here: it has them on its disk. */
	if (id->role == ROLE_NODE)
		return errf(-BW_E_DENIED, ret_err, "nodes push logs (POST "
		    LOGS_PREFIX "nodes/NODE), they do not read them");
	if ((r = authz_check(id, VERB_READ, k, tenant, ret_err)) < 0)
		return r;
	if (res_key(k, tenant, name, key, sizeof(key)) < 0)
		return errf(-BW_E_INVALID, ret_err, "name: too long");
	if ((r = store_get(api_store(la->srv), key, &kv)) < 0)
		return r == -BW_E_NOTFOUND ? errf(r, ret_err, "instance %s/%s "
		    "not found", tenant, name) : r;
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	store_kv_free(kv);
	u = json_str_at(doc, "metadata", "uid");
	n = json_str_at(doc, "spec", k->node_field);
	if (!u || !n || !*n)
		return errf(-BW_E_CONFLICT, ret_err, "instance %s/%s is not "
		    "on a node yet", tenant, name);
	snprintf(uid, uid_len, "%s", u);
	snprintf(node, node_len, "%s", n);
	return 0;
}

static int
stream_get(struct logs_api *la, const char *uid, const char *node,
    int64_t now, struct logs_stream **ret, char **ret_err)
{
	struct logs_stream *s = stream_find(la, uid);

	if (s && strcmp(s->node, node) != 0) {
		/* Rebound to another node: start over there. */
		s->have = s->missing = false;
		s->len = 0;
	}
	if (!s) {
		if (la->nstreams >= LOGS_STREAMS_MAX)
			return errf(-EBUSY, ret_err, "%d logs are read already",
			    LOGS_STREAMS_MAX);
		if (!(s = calloc(1, sizeof(*s))) ||
		    !(s->buf = malloc(LOGS_BUF_MAX))) {
			free(s);
			return -ENOMEM;
		}
		snprintf(s->uid, sizeof(s->uid), "%s", uid);
		s->next = la->streams;
		la->streams = s;
		la->nstreams++;
	}
	snprintf(s->node, sizeof(s->node), "%s", node);
	s->used_at = now;
	s->want_until = now + LOGS_WANT_S * 1000;
	*ret = s;
	return 0;
}

/* The offset in S->buf where the last LINES lines begin. */
static size_t
tail_offset(const struct logs_stream *s, unsigned lines)
{
	unsigned seen = 0;

	for (size_t i = s->len; i > 0; i--)
		if (s->buf[i - 1] == '\n' && i != s->len && ++seen == lines)
			return i;
	return 0;
}

/* The reader's answer: from AFTER (none: the last TAIL lines, 0: all
 * held) what S holds. */
static json_t *
read_answer(const struct logs_stream *s, const char *after_text,
    unsigned tail)
{
	uint64_t	after, from = s->start;
	size_t		off = 0;

	if (after_text) {
		after = strtoull(after_text, NULL, 10);
		from = after > s->start ? after : s->start;
		if (from > s->end)
			from = s->end;
		off = (size_t)(from - s->start);
	} else if (tail > 0) {
		off = tail_offset(s, tail);
		from = s->start + off;
	}
	return json_pack("{s:b, s:b, s:I, s:I, s:I, s:I, s:s%}", "pending",
	    !s->have, "missing", s->missing, "from", (json_int_t)from, "end",
	    (json_int_t)s->end, "start", (json_int_t)s->start, "dropped",
	    (json_int_t)s->dropped, "data", s->buf + off, s->len - off);
}

static int
parse_uint_param(const char *v, unsigned max, unsigned *ret)
{
	char		*end;
	unsigned long	 n;

	if (!v) {
		*ret = 0;
		return 0;
	}
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n > max)
		return -BW_E_INVALID;
	*ret = (unsigned)n;
	return 0;
}

/* GET /v1/logs/tenants/T/instances/NAME */
static int
handle_read(struct logs_api *la, struct evhttp_request *req,
    const struct authz_identity *id, const char *tenant, const char *name,
    bool *ret_audit, char **ret_err)
{
	const char		*query = evhttp_uri_get_query(
	    evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq	 q;
	struct logs_stream	*s = NULL;
	const char		*after, *digits;
	char			 uid[64], node[64];
	int64_t			 now = bw_mono_ms();
	unsigned		 tail;
	json_t			*ans;
	bool			 wake;
	int			 r;

	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) < 0)
		return errf(-BW_E_INVALID, ret_err, "query: malformed");
	after = evhttp_find_header(&q, "after");
	if (parse_uint_param(evhttp_find_header(&q, "tail"), LOGS_TAIL_MAX,
	    &tail) < 0) {
		evhttp_clear_headers(&q);
		return errf(-BW_E_INVALID, ret_err, "tail: 0..%d lines",
		    LOGS_TAIL_MAX);
	}
	for (digits = after; digits && *digits; digits++)
		if (*digits < '0' || *digits > '9')
			break;
	if (after && (!*after || *digits)) {
		evhttp_clear_headers(&q);
		return errf(-BW_E_INVALID, ret_err, "after: an offset");
	}
	/* A read starts with no offset: that is what the trail records; the
	 * polls that follow it are its continuation. */
	*ret_audit = after == NULL;
	logs_gc(la, now);
	if ((r = instance_lookup(la, id, tenant, name, uid, sizeof(uid), node,
	    sizeof(node), ret_err)) < 0) {
		evhttp_clear_headers(&q);
		return r;
	}
	/* An idle agent asks what is wanted only when its long poll ends:
	 * a log nobody wanted until now, or that its node has not answered
	 * yet, ends that poll (each read until the node answers, in case
	 * the agent was between two polls). */
	s = stream_find(la, uid);
	wake = !s || !s->have || now > s->want_until ||
	    strcmp(s->node, node) != 0;
	if ((r = stream_get(la, uid, node, now, &s, ret_err)) < 0 ||
	    (r = reader_admit(la, id->principal, s, now, ret_err)) < 0) {
		evhttp_clear_headers(&q);
		return r;
	}
	if (wake)
		api_watch_wake_node(la->srv, node);
	ans = read_answer(s, after, tail);
	evhttp_clear_headers(&q);
	if (!ans)
		return errf(-BW_E_INVALID, ret_err, "after: not where a "
		    "line starts");
	json_object_set_new(ans, "node", json_string(node));
	api_reply_json(la->srv, req, 200, ans);
	json_decref(ans);
	return 0;
}

/* Takes one chunk a node pushed for S. */
static void
stream_put(struct logs_stream *s, const json_t *c)
{
	const char	*data = json_string_value(json_object_get(c, "data"));
	size_t		 len = json_string_length(json_object_get(c, "data"));
	json_int_t	 off = json_integer_value(json_object_get(c, "offset"));

	s->missing = json_is_true(json_object_get(c, "missing"));
	s->dropped = (uint64_t)json_integer_value(json_object_get(c,
	    "dropped"));
	if (s->missing || !data || off < 0 || len > LOGS_CHUNK_MAX) {
		s->have = true;
		return;
	}
	if (!s->have || (uint64_t)off != s->end) {
		/* The first answer, or a gap: the log starts here. */
		s->len = 0;
		s->start = s->end = (uint64_t)off;
	}
	if (s->len + len > LOGS_BUF_MAX) {
		/* Room for the new lines: the oldest whole lines go. */
		size_t	 drop = s->len + len - LOGS_BUF_MAX;
		char	*nl = drop < s->len ? memchr(s->buf + drop, '\n',
		    s->len - drop) : NULL;

		drop = nl ? (size_t)(nl - s->buf) + 1 : s->len;
		memmove(s->buf, s->buf + drop, s->len - drop);
		s->len -= drop;
		s->start += drop;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->end = (uint64_t)off + len;
	s->have = true;
}

/* POST /v1/logs/nodes/NODE */
static int
handle_push(struct logs_api *la, struct evhttp_request *req,
    const struct authz_identity *id, const char *node, char **ret_err)
{
	_cleanup_json_ json_t	*body = NULL, *want = NULL, *ans = NULL;
	const json_t		*chunks, *c;
	int64_t			 now = bw_mono_ms();
	size_t			 i;
	int			 r;

	if (id->role != ROLE_NODE || strcmp(id->role_name, "node") != 0 ||
	    strcmp(id->principal, node) != 0)
		return errf(-BW_E_DENIED, ret_err, "only node %s's agent "
		    "pushes its logs", node);
	if ((r = api_read_json_body(req, &body, ret_err)) < 0)
		return r;
	chunks = json_object_get(body, "logs");
	json_array_foreach(chunks, i, c) {
		const char		*uid = json_string_value(json_object_get(c,
		    "uid"));
		struct logs_stream	*s = uid ? stream_find(la, uid) : NULL;

		/* Only what was asked of this node is taken. */
		if (s && strcmp(s->node, node) == 0)
			stream_put(s, c);
	}
	logs_gc(la, now);
	if (!(want = json_array()))
		return -ENOMEM;
	for (struct logs_stream *s = la->streams; s; s = s->next) {
		if (strcmp(s->node, node) != 0 || now > s->want_until)
			continue;
		json_array_append_new(want, json_pack("{s:s, s:I}", "uid",
		    s->uid, "after", s->have && !s->missing ?
		    (json_int_t)s->end : (json_int_t)-1));
	}
	if (!(ans = json_pack("{s:O, s:i, s:i}", "want", want, "push_ms",
	    LOGS_PUSH_MS, "chunk_max", LOGS_CHUNK_MAX)))
		return -ENOMEM;
	api_reply_json(la->srv, req, 200, ans);
	return 0;
}

/* Splits "A/B" off P into A (at most LEN - 1 bytes); P moves past it. */
static int
path_word(const char **p, char *a, size_t len)
{
	const char	*e = strchr(*p, '/');
	size_t		 n = e ? (size_t)(e - *p) : strlen(*p);

	if (n == 0 || n >= len)
		return -BW_E_NOTFOUND;
	memcpy(a, *p, n);
	a[n] = '\0';
	*p += n + (e ? 1 : 0);
	return 0;
}

void
logs_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg)
{
	struct logs_api		*la = arg;
	_cleanup_free_ char	*err = NULL;
	enum evhttp_cmd_type	 m = evhttp_request_get_command(req);
	const char		*p = path + strlen(LOGS_PREFIX);
	char			 w1[16], tenant[64] = "", w2[16], name[64] = "";
	const char		*action = "instance.logs";
	bool			 audit = true;
	int			 r = -BW_E_NOTFOUND;

	if (path_word(&p, w1, sizeof(w1)) < 0)
		;
	else if (strcmp(w1, "tenants") == 0 && m == EVHTTP_REQ_GET &&
	    path_word(&p, tenant, sizeof(tenant)) == 0 &&
	    path_word(&p, w2, sizeof(w2)) == 0 &&
	    strcmp(w2, "instances") == 0 &&
	    path_word(&p, name, sizeof(name)) == 0 && !*p) {
		r = handle_read(la, req, id, tenant, name, &audit, &err);
		if (r == 0 && audit)
			api_audit(srv, id, action, "Instance", tenant, name,
			    "success", NULL);
	} else if (strcmp(w1, "nodes") == 0 && m == EVHTTP_REQ_POST &&
	    path_word(&p, name, sizeof(name)) == 0 && !*p) {
		action = "node.logs";
		/* Pushes come every LOGS_PUSH_MS while a log is read: the
		 * read is what the trail records, a refused push is. */
		r = handle_push(la, req, id, name, &err);
	}
	if (r >= 0)
		return;
	if (r == -BW_E_NOTFOUND && !err)
		err = strdup("no such path or method (GET " LOGS_PREFIX
		    "tenants/T/instances/NAME, POST " LOGS_PREFIX "nodes/NODE)");
	api_audit(srv, id, action, tenant[0] ? "Instance" : "Node",
	    tenant[0] ? tenant : RES_SYSTEM_TENANT, name, r == -BW_E_DENIED ?
	    "denied" : "failure", err ? err : bw_strerror(r));
	if (r == -EBUSY)
		api_reply_error(srv, req, 429, "too_many_readers", err);
	else
		api_reply_err(srv, req, r, err);
}

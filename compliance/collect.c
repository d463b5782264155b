/* Both ends of the privileged collector (compliance/collect.h): the
 * answer the collector encodes from the checks it runs, the query
 * bulwarkd makes with a bounded wait and size, and the merge of the
 * answer into bulwarkd's scan, which fails closed. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "compliance/collect.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

/* Whether an observation's subject or an evidence ref is one of
 * bulwarkd's facts ("fact:..."), which only bulwarkd knows. */
static bool
collect_is_fact(const char *s)
{
	return s && !strncmp(s, "fact:", 5);
}

/* A JSON string of S: at most COMP_COLLECT_STR_MAX bytes, bytes outside
 * printable ASCII as '?' (a file's bytes need not be UTF-8, and the
 * reader refuses what is not); tabs stay. NULL stays NULL (json null). */
static json_t *
collect_json_str(const char *s)
{
	char buf[COMP_COLLECT_STR_MAX + 1];
	size_t i;

	if (!s)
		return json_null();
	for (i = 0; s[i] && i < COMP_COLLECT_STR_MAX; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\t' ? s[i] :
		    '?';
	buf[i] = '\0';
	return json_string(buf);
}

/* RES as the collector's error: what it would say is over a bound of the
 * protocol, and a list cut short could drop exactly the failing
 * observation. */
static json_t *
collect_result_over_json(const struct comp_result *res)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "the check made %zu observations and %zu "
	    "evidence, over the collector's limit of %d each", res->n_obs,
	    res->n_ev, COMP_COLLECT_OBS_MAX);
	return json_pack("{s:s, s:s, s:s, s:[], s:[]}", "check", res->check->id,
	    "verdict", "error", "error", msg, "observations", "evidence");
}

/* The verdict the collector sends for RES: the check's own, except when
 * it is not satisfied only because of failing facts. The collector knows
 * none (they are bulwarkd's, which merges its own), so such a check is
 * judged on its host observations alone: satisfied when there is at
 * least one and all are fine. */
static enum comp_verdict
collect_host_verdict(const struct comp_result *res)
{
	size_t i, n_host = 0, n_fact_failed = 0;

	if (res->verdict != COMP_NOT_SATISFIED)
		return res->verdict;
	for (i = 0; i < res->n_obs; i++) {
		if (!collect_is_fact(res->obs[i].subject)) {
			if (!res->obs[i].ok)
				return COMP_NOT_SATISFIED;
			n_host++;
		} else if (!res->obs[i].ok)
			n_fact_failed++;
	}
	return n_host && n_fact_failed ? COMP_SATISFIED : COMP_NOT_SATISFIED;
}

static json_t *
collect_result_json(const struct comp_result *res)
{
	json_t *obs, *ev;
	size_t i;

	if (res->n_obs > COMP_COLLECT_OBS_MAX || res->n_ev > COMP_COLLECT_EV_MAX)
		return collect_result_over_json(res);
	obs = json_array();
	ev = json_array();
	for (i = 0; obs && i < res->n_obs; i++)
		if (json_array_append_new(obs, json_pack("{s:o, s:o, s:o, s:b}",
		    "subject", collect_json_str(res->obs[i].subject ?
		    res->obs[i].subject : ""), "found",
		    collect_json_str(res->obs[i].found), "required",
		    collect_json_str(res->obs[i].required), "ok",
		    res->obs[i].ok)) < 0)
			goto fail;
	/* Host files only: facts are bulwarkd's, and it refuses other refs. */
	for (i = 0; ev && i < res->n_ev; i++)
		if (res->ev[i].ref && res->ev[i].ref[0] == '/' &&
		    json_array_append_new(ev, json_pack("{s:o, s:s}", "ref",
		    collect_json_str(res->ev[i].ref), "sha256",
		    res->ev[i].sha256)) < 0)
			goto fail;
	if (!obs || !ev)
		goto fail;
	return json_pack("{s:s, s:s, s:o, s:o, s:o}", "check", res->check->id,
	    "verdict", comp_verdict_str(collect_host_verdict(res)), "error",
	    collect_json_str(res->error), "observations", obs, "evidence", ev);
fail:
	json_decref(obs);
	json_decref(ev);
	return NULL;
}

/* The answer frame for DOC into *ret_buf; -BW_E_TOOLARGE past the
 * limit. */
static int
collect_frame(const json_t *doc, unsigned char **ret_buf, size_t *ret_len)
{
	_cleanup_free_ char *text = NULL;
	unsigned char *buf;
	size_t len;

	if (!(text = json_dumps(doc, JSON_COMPACT)))
		return -ENOMEM;
	len = strlen(text);
	if (len > COMP_COLLECT_ANSWER_MAX)
		return -BW_E_TOOLARGE;
	if (!(buf = malloc(COMP_COLLECT_HDR_LEN + len)))
		return -ENOMEM;
	comp_collect_header(buf, COMP_COLLECT_ANSWER, (uint32_t)len);
	memcpy(buf + COMP_COLLECT_HDR_LEN, text, len);
	*ret_buf = buf;
	*ret_len = COMP_COLLECT_HDR_LEN + len;
	return 0;
}

int
comp_collect_answer_build(struct comp_ctx *ctx, unsigned char **ret_buf,
    size_t *ret_len)
{
	_cleanup_json_ json_t *results = json_array(), *doc = NULL;
	size_t i;
	int r;

	if (!results)
		return -ENOMEM;
	for (i = 0; comp_collect_checks[i]; i++) {
		const struct comp_check *c = comp_check_find(comp_collect_checks[i]);
		_cleanup_(comp_result_freep) struct comp_result *res = NULL;

		if (!c)
			continue;	/* not built in: bulwarkd says it is missing */
		if ((r = comp_check_run(c, ctx, &res)) < 0)
			return r;
		if (json_array_append_new(results, collect_result_json(res)) < 0)
			return -ENOMEM;
	}
	if (!(doc = json_pack("{s:i, s:O}", "euid", (int)geteuid(), "results",
	    results)))
		return -ENOMEM;
	r = collect_frame(doc, ret_buf, ret_len);
	if (r != -BW_E_TOOLARGE)
		return r;
	/* Too much to say: each check errs, which bulwarkd reports as
	 * such, rather than an answer cut short. */
	json_array_clear(results);
	for (i = 0; comp_collect_checks[i]; i++)
		if (json_array_append_new(results, json_pack("{s:s, s:s, s:s, "
		    "s:[], s:[]}", "check", comp_collect_checks[i], "verdict",
		    "error", "error", "the collector's answer would be over its "
		    "size limit", "observations", "evidence")) < 0)
			return -ENOMEM;
	return collect_frame(doc, ret_buf, ret_len);
}

/* Milliseconds left until DEADLINE (bw_mono_ms()), at least 0. */
static int
collect_left_ms(int64_t deadline)
{
	int64_t now = bw_mono_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits for EVENTS on FD until DEADLINE. Returns 0, -ETIMEDOUT or
 * -errno. */
static int
collect_wait(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, collect_left_ms(deadline));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int
collect_connect(const char *path, int64_t deadline, int *ret_fd,
    char **ret_err)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t sl;
	int err = 0, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return errf(-ENAMETOOLONG, ret_err, "%s: path too long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errf(-errno, ret_err, "socket: %s", strerror(errno));
	/* A UNIX socket connects at once or not at all: EAGAIN is a full
	 * backlog, an error like any other here. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS)
			return errf(-errno, ret_err, "connecting to %s: %s",
			    path, strerror(errno));
		if ((r = collect_wait(fd, POLLOUT, deadline)) < 0)
			return errf(r, ret_err, "connecting to %s: %s", path,
			    bw_strerror(r));
		sl = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0 || err)
			return errf(-(err ? err : errno), ret_err, "connecting "
			    "to %s: %s", path, strerror(err ? err : errno));
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Reads the answer frame into B: the header, then until the payload it
 * announces has arrived (the collector need not close first) or the
 * stream ends; at most MAX bytes. A bad header is an error at once, as
 * is DEADLINE passing first. What arrived is for the parser to judge. */
static int
collect_read_answer(int fd, struct bw_buf *b, size_t max, int64_t deadline,
    char **ret_err)
{
	char chunk[16384];
	size_t want = 0, plen;
	ssize_t n;
	int r;

	for (;;) {
		if (!want && b->len >= COMP_COLLECT_HDR_LEN) {
			if ((r = comp_collect_answer_size((const unsigned char *)
			    b->p, b->len, &plen, ret_err)) < 0)
				return r;
			want = COMP_COLLECT_HDR_LEN + plen;
		}
		if (want && b->len >= want)
			return 0;
		n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if ((r = collect_wait(fd, POLLIN, deadline)) < 0)
				return errf(r, ret_err, "no whole answer within "
				    "the time allowed (%zu bytes received): %s",
				    b->len, bw_strerror(r));
			continue;
		}
		if (n < 0)
			return errf(-errno, ret_err, "reading the answer: %s",
			    strerror(errno));
		if (b->len + (size_t)n > max)
			return errf(-BW_E_TOOLARGE, ret_err, "answer over %zu "
			    "bytes", max);
		if ((r = bw_buf_append(b, chunk, (size_t)n)) < 0)
			return r;
	}
}

int
comp_collect_query(const char *path, int timeout_ms,
    struct comp_collect_answer **ret, char **ret_err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_(bw_buf_done) struct bw_buf b = { 0 };
	unsigned char req[COMP_COLLECT_HDR_LEN];
	struct stat st;
	int64_t deadline;
	ssize_t n;
	int r;

	if (lstat(path, &st) < 0)
		return errf(-errno, ret_err, "%s: %s", path, strerror(errno));
	deadline = bw_mono_ms() + timeout_ms;
	if ((r = collect_connect(path, deadline, &fd, ret_err)) < 0)
		return r;
	comp_collect_header(req, COMP_COLLECT_REQ_SCAN, 0);
	if ((r = collect_wait(fd, POLLOUT, deadline)) < 0)
		return errf(r, ret_err, "sending the request: %s",
		    bw_strerror(r));
	n = send(fd, req, sizeof(req), MSG_NOSIGNAL);
	if (n < 0)
		return errf(-errno, ret_err, "sending the request: %s",
		    strerror(errno));
	if (n != (ssize_t)sizeof(req))
		return errf(-EIO, ret_err, "sending the request: short write "
		    "(%zd of %zu bytes)", n, sizeof(req));
	r = collect_read_answer(fd, &b, COMP_COLLECT_HDR_LEN +
	    COMP_COLLECT_ANSWER_MAX, deadline, ret_err);
	if (r == 0)
		r = comp_collect_answer_parse((const unsigned char *)b.p, b.len,
		    ret, ret_err);
	return r;
}

static const struct comp_collect_result *
collect_find(const struct comp_collect_answer *a, const char *id)
{
	size_t i;

	for (i = 0; a && i < a->n; i++)
		if (!strcmp(a->results[i].check, id))
			return &a->results[i];
	return NULL;
}

/* RES (bulwarkd's own run) when the collector gave nothing for it. */
static int
collect_fail_closed(struct comp_result *res, const char *failure)
{
	int r;

	if ((r = comp_obs_add(res, false, "collector", "an answer from "
	    "bulwark-collect for this check", "%s", failure)) < 0)
		return r;
	if (res->verdict != COMP_ERROR)
		res->verdict = COMP_NOT_SATISFIED;
	return 0;
}

/* How bad verdict V is, for taking the worse of two: an error, then
 * not satisfied, then not applicable, then satisfied. */
static int
collect_verdict_rank(int v)
{
	switch (v) {
	case COMP_SATISFIED:
		return 0;
	case COMP_NOT_APPLICABLE:
		return 1;
	case COMP_NOT_SATISFIED:
		return 2;
	default:
		return 3;
	}
}

/* M's verdict (neither side erred): the worse of the collector's C and
 * the one of M's merged observations. Satisfied needs the collector to
 * have said so AND to have sent a host observation to back it: bulwarkd's
 * facts alone never satisfy a check whose host files it cannot read. */
static int
collect_merge_verdict(struct comp_result *m, const struct comp_collect_result *c)
{
	int v = comp_verdict_from_obs(m);
	size_t i, n_host = 0;

	for (i = 0; i < c->n_obs; i++)
		if (!collect_is_fact(c->obs[i].subject))
			n_host++;
	if (c->verdict == COMP_SATISFIED && n_host == 0) {
		m->verdict = COMP_NOT_SATISFIED;
		return comp_obs_add(m, false, "collector", "at least one host "
		    "observation from bulwark-collect for this check", "none "
		    "sent");
	}
	if (collect_verdict_rank(c->verdict) > collect_verdict_rank(v))
		v = c->verdict;
	m->verdict = v;
	return 0;
}

/* A new result for LOCAL's check: C's host observations and evidence,
 * LOCAL's fact ones. */
static int
collect_merge_one(const struct comp_result *local,
    const struct comp_collect_result *c, int euid, struct comp_result **ret)
{
	_cleanup_(comp_result_freep) struct comp_result *m = NULL;
	char ref[64];
	size_t i;
	int r;

	if (!(m = calloc(1, sizeof(*m))))
		return -ENOMEM;
	m->check = local->check;
	m->start = local->start;
	m->end = local->end;
	for (i = 0; i < c->n_obs; i++)
		if (!collect_is_fact(c->obs[i].subject) &&
		    (r = comp_obs_add(m, c->obs[i].ok, c->obs[i].subject,
		    c->obs[i].required, "%s", c->obs[i].found ?
		    c->obs[i].found : "")) < 0)
			return r;
	for (i = 0; i < local->n_obs; i++)
		if (collect_is_fact(local->obs[i].subject) &&
		    (r = comp_obs_add(m, local->obs[i].ok,
		    local->obs[i].subject, local->obs[i].required, "%s",
		    local->obs[i].found ? local->obs[i].found : "")) < 0)
			return r;
	for (i = 0; i < c->n_ev; i++)
		if (!collect_is_fact(c->ev[i].ref) &&
		    (r = comp_evidence_add_hex(m, c->ev[i].ref,
		    c->ev[i].sha256)) < 0)
			return r;
	for (i = 0; i < local->n_ev; i++)
		if (collect_is_fact(local->ev[i].ref) &&
		    (r = comp_evidence_add_hex(m, local->ev[i].ref,
		    local->ev[i].sha256)) < 0)
			return r;
	if (c->verdict == COMP_ERROR || local->verdict == COMP_ERROR) {
		m->verdict = COMP_ERROR;
		if (asprintf(&m->error, "%s%s", c->verdict == COMP_ERROR ?
		    "collector: " : "", c->verdict == COMP_ERROR ?
		    (c->error ? c->error : "check failed") : (local->error ?
		    local->error : "check failed")) < 0)
			return -ENOMEM;
	} else if ((r = collect_merge_verdict(m, c)) < 0)
		return r;
	/* Said after the verdict, which it must not make: which process
	 * read the host for this check. */
	snprintf(ref, sizeof(ref), "collector:bulwark-collect euid %d", euid);
	if ((r = comp_evidence_add(m, ref, NULL, 0)) < 0 ||
	    (r = comp_obs_add(m, true, "collector", "host files read by the "
	    "privileged collector", "bulwark-collect (euid %d)", euid)) < 0)
		return r;
	*ret = TAKE_PTR(m);
	return 0;
}

int
comp_collect_merge(struct comp_scan *scan, const struct comp_collect_answer *a,
    const char *failure)
{
	size_t i;
	int r;

	for (i = 0; i < scan->n; i++) {
		struct comp_result *local = scan->results[i], *m = NULL;
		const struct comp_collect_result *c;

		if (!comp_collect_is_privileged(local->check->id))
			continue;
		if (!a || !(c = collect_find(a, local->check->id))) {
			if ((r = collect_fail_closed(local, a ? "the collector's "
			    "answer has no result for this check" : failure ?
			    failure : "no answer")) < 0)
				return r;
			continue;
		}
		if ((r = collect_merge_one(local, c, a->euid, &m)) < 0)
			return r;
		comp_result_free(local);
		scan->results[i] = m;
	}
	return 0;
}

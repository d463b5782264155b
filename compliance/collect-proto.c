/* The collector's wire format (compliance/collect-proto.h): the request
 * check the collector makes and the answer parser bulwarkd runs on what
 * the collector sent. The parser trusts nothing it reads: every member
 * is typed, bounded and known, and a result that fails is refused whole
 * rather than partly taken. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "compliance/check.h"
#include "compliance/collect-proto.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"

const char *const comp_collect_checks[] = {
	"ac-accounts", "ac-root-restricted", "ia-password-storage",
	"au-auditd-running", "au-log-format", "au-capacity",
	"au-failure-response", "au-retention", "au-protection",
	"au-rules-events", "au-rules-identity", "au-rules-privileged",
	"au-rules-config", "cm-sysctl-baseline", "ra-privileged-scan",
	NULL,
};

static const char *
collect_check_id(const char *id)
{
	size_t i;

	for (i = 0; comp_collect_checks[i]; i++)
		if (!strcmp(comp_collect_checks[i], id))
			return comp_collect_checks[i];
	return NULL;
}

bool
comp_collect_is_privileged(const char *id)
{
	return id && collect_check_id(id) != NULL;
}

void
comp_collect_header(unsigned char out[COMP_COLLECT_HDR_LEN], uint16_t type,
    uint32_t len)
{
	uint32_t magic = COMP_COLLECT_MAGIC;
	uint16_t version = COMP_COLLECT_VERSION;

	memcpy(out, &magic, 4);
	memcpy(out + 4, &version, 2);
	memcpy(out + 6, &type, 2);
	memcpy(out + 8, &len, 4);
}

/* Decodes the header at P: magic and version must match, the type must
 * be TYPE. */
static int
collect_header(const unsigned char *p, size_t len, uint16_t type,
    uint32_t *ret_len, char **ret_err)
{
	uint32_t magic, plen;
	uint16_t version, t;

	if (len < COMP_COLLECT_HDR_LEN)
		return errf(-BW_E_INVALID, ret_err, "short header: %zu of %d "
		    "bytes", len, COMP_COLLECT_HDR_LEN);
	memcpy(&magic, p, 4);
	memcpy(&version, p + 4, 2);
	memcpy(&t, p + 6, 2);
	memcpy(&plen, p + 8, 4);
	if (magic != COMP_COLLECT_MAGIC)
		return errf(-BW_E_INVALID, ret_err, "bad magic 0x%08x", magic);
	if (version != COMP_COLLECT_VERSION)
		return errf(-BW_E_INVALID, ret_err, "protocol version %u, "
		    "expected %d", version, COMP_COLLECT_VERSION);
	if (t != type)
		return errf(-BW_E_INVALID, ret_err, "message type %u, expected "
		    "%u", t, type);
	*ret_len = plen;
	return 0;
}

int
comp_collect_request_check(const unsigned char *p, size_t len, char **ret_err)
{
	uint32_t plen;
	int r;

	if ((r = collect_header(p, len, COMP_COLLECT_REQ_SCAN, &plen,
	    ret_err)) < 0)
		return r;
	if (plen != 0 || len != COMP_COLLECT_HDR_LEN)
		return errf(-BW_E_INVALID, ret_err, "a scan request has no "
		    "payload (%u announced, %zu bytes received)", plen, len);
	return 0;
}

int
comp_collect_answer_size(const unsigned char *p, size_t len, size_t *ret_len,
    char **ret_err)
{
	uint32_t plen;
	int r;

	if ((r = collect_header(p, len, COMP_COLLECT_ANSWER, &plen,
	    ret_err)) < 0)
		return r;
	if (plen > COMP_COLLECT_ANSWER_MAX)
		return errf(-BW_E_TOOLARGE, ret_err, "answer of %u bytes, over "
		    "%zu", plen, COMP_COLLECT_ANSWER_MAX);
	*ret_len = plen;
	return 0;
}

static void
collect_result_done(struct comp_collect_result *res)
{
	size_t i;

	for (i = 0; i < res->n_obs; i++) {
		free(res->obs[i].subject);
		free(res->obs[i].found);
		free(res->obs[i].required);
	}
	free(res->obs);
	for (i = 0; i < res->n_ev; i++)
		free(res->ev[i].ref);
	free(res->ev);
	free(res->error);
}

void
comp_collect_answer_free(struct comp_collect_answer *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->n; i++)
		collect_result_done(&a->results[i]);
	free(a->results);
	free(a);
}

/* A copy of string member KEY of O into *ret: required unless OPTIONAL
 * (then absent or null gives NULL), at most COMP_COLLECT_STR_MAX bytes. */
static int
collect_str(const json_t *o, const char *key, bool optional, char **ret,
    const char *where, char **ret_err)
{
	const json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (optional && (!v || json_is_null(v)))
		return 0;
	if (!json_is_string(v))
		return errf(-BW_E_INVALID, ret_err, "%s.%s: not a string",
		    where, key);
	if (json_string_length(v) > COMP_COLLECT_STR_MAX)
		return errf(-BW_E_TOOLARGE, ret_err, "%s.%s: over %d bytes",
		    where, key, COMP_COLLECT_STR_MAX);
	if (!(*ret = strdup(json_string_value(v))))
		return -ENOMEM;
	return 0;
}

/* Refuses members of O other than the NULL-terminated KEYS. */
static int
collect_only_keys(const json_t *o, const char *const *keys, const char *where,
    char **ret_err)
{
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(o))
		return errf(-BW_E_INVALID, ret_err, "%s: not an object", where);
	json_object_foreach((json_t *)o, k, v) {
		for (i = 0; keys[i] && strcmp(keys[i], k); i++)
			;
		if (!keys[i])
			return errf(-BW_E_INVALID, ret_err, "%s: unknown member "
			    "\"%.64s\"", where, k);
	}
	return 0;
}

static int
collect_obs(const json_t *o, struct comp_collect_obs *obs, const char *where,
    char **ret_err)
{
	static const char *const keys[] = { "subject", "found", "required",
		"ok", NULL };
	const json_t *ok = json_object_get(o, "ok");
	int r;

	if ((r = collect_only_keys(o, keys, where, ret_err)) < 0 ||
	    (r = collect_str(o, "subject", false, &obs->subject, where,
	    ret_err)) < 0 ||
	    (r = collect_str(o, "found", true, &obs->found, where,
	    ret_err)) < 0 ||
	    (r = collect_str(o, "required", true, &obs->required, where,
	    ret_err)) < 0)
		return r;
	if (!json_is_boolean(ok))
		return errf(-BW_E_INVALID, ret_err, "%s.ok: not a boolean",
		    where);
	obs->ok = json_is_true(ok);
	return 0;
}

static bool
collect_hex64(const char *s)
{
	size_t i;

	if (strlen(s) != 64)
		return false;
	for (i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static int
collect_ev(const json_t *o, struct comp_collect_ev *ev, const char *where,
    char **ret_err)
{
	static const char *const keys[] = { "ref", "sha256", NULL };
	const json_t *d = json_object_get(o, "sha256");
	const char *s;
	int r;

	if ((r = collect_only_keys(o, keys, where, ret_err)) < 0 ||
	    (r = collect_str(o, "ref", false, &ev->ref, where, ret_err)) < 0)
		return r;
	/* A host file: other refs ("fact:", "openssl:", "collector:") are
	 * kinds of their own in the results, not the collector's to name. */
	if (ev->ref[0] != '/')
		return errf(-BW_E_INVALID, ret_err, "%s.ref: not an absolute "
		    "path", where);
	if (!json_is_string(d) || (*(s = json_string_value(d)) &&
	    !collect_hex64(s)))
		return errf(-BW_E_INVALID, ret_err, "%s.sha256: not empty nor "
		    "64 lower-case hex digits", where);
	memcpy(ev->sha256, s, strlen(s) + 1);
	return 0;
}

static int
collect_verdict(const char *s)
{
	if (!strcmp(s, "satisfied"))
		return COMP_SATISFIED;
	if (!strcmp(s, "not-satisfied"))
		return COMP_NOT_SATISFIED;
	if (!strcmp(s, "not-applicable"))
		return COMP_NOT_APPLICABLE;
	if (!strcmp(s, "error"))
		return COMP_ERROR;
	return -BW_E_INVALID;
}

/* One element of "results" into RES (zeroed by the caller; freed by the
 * caller on failure too). */
static int
collect_result(const json_t *o, const struct comp_collect_answer *a,
    struct comp_collect_result *res, char **ret_err)
{
	static const char *const keys[] = { "check", "verdict", "error",
		"observations", "evidence", NULL };
	const json_t *obs = json_object_get(o, "observations");
	const json_t *ev = json_object_get(o, "evidence");
	const char *id = json_str_at(o, "check", NULL);
	const char *v = json_str_at(o, "verdict", NULL);
	char where[96];
	size_t i;
	int r;

	if ((r = collect_only_keys(o, keys, "results[]", ret_err)) < 0)
		return r;
	if (!id || !(res->check = collect_check_id(id)))
		return errf(-BW_E_INVALID, ret_err, "results[].check: %s%.64s%s",
		    id ? "\"" : "", id ? id : "missing or not a string",
		    id ? "\" is not a collector check" : "");
	for (i = 0; i < a->n; i++)
		if (a->results[i].check == res->check)
			return errf(-BW_E_INVALID, ret_err, "results: %s twice",
			    id);
	snprintf(where, sizeof(where), "results[%s]", id);
	if (!v || (res->verdict = collect_verdict(v)) < 0)
		return errf(-BW_E_INVALID, ret_err, "%s.verdict: unknown", where);
	if ((r = collect_str(o, "error", true, &res->error, where,
	    ret_err)) < 0)
		return r;
	if (!json_is_array(obs) || !json_is_array(ev))
		return errf(-BW_E_INVALID, ret_err, "%s: observations and "
		    "evidence must be arrays", where);
	if (json_array_size(obs) > COMP_COLLECT_OBS_MAX ||
	    json_array_size(ev) > COMP_COLLECT_EV_MAX)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: over %d observations "
		    "or %d evidence", where, COMP_COLLECT_OBS_MAX,
		    COMP_COLLECT_EV_MAX);
	if ((json_array_size(obs) && !(res->obs = calloc(json_array_size(obs),
	    sizeof(*res->obs)))) || (json_array_size(ev) &&
	    !(res->ev = calloc(json_array_size(ev), sizeof(*res->ev)))))
		return -ENOMEM;
	for (i = 0; i < json_array_size(obs); i++) {
		res->n_obs++;
		if ((r = collect_obs(json_array_get(obs, i), &res->obs[i],
		    where, ret_err)) < 0)
			return r;
	}
	for (i = 0; i < json_array_size(ev); i++) {
		res->n_ev++;
		if ((r = collect_ev(json_array_get(ev, i), &res->ev[i], where,
		    ret_err)) < 0)
			return r;
	}
	return 0;
}

int
comp_collect_answer_parse(const unsigned char *p, size_t len,
    struct comp_collect_answer **ret, char **ret_err)
{
	static const char *const keys[] = { "euid", "results", NULL };
	_cleanup_(comp_collect_answer_freep) struct comp_collect_answer *a = NULL;
	_cleanup_json_ json_t *doc = NULL;
	const json_t *euid, *results;
	size_t plen = 0, i;
	int r;

	if ((r = comp_collect_answer_size(p, len, &plen, ret_err)) < 0)
		return r;
	if (len - COMP_COLLECT_HDR_LEN != plen)
		return errf(-BW_E_INVALID, ret_err, "answer of %zu bytes, %zu "
		    "announced", len - COMP_COLLECT_HDR_LEN, plen);
	if ((r = json_parse_bounded((const char *)p + COMP_COLLECT_HDR_LEN,
	    plen, 8, &doc, ret_err)) < 0)
		return r;
	if ((r = collect_only_keys(doc, keys, "answer", ret_err)) < 0)
		return r;
	euid = json_object_get(doc, "euid");
	results = json_object_get(doc, "results");
	if (!json_is_integer(euid) || json_integer_value(euid) < 0 ||
	    json_integer_value(euid) > INT32_MAX)
		return errf(-BW_E_INVALID, ret_err, "euid: not a uid");
	if (!json_is_array(results) ||
	    json_array_size(results) > ELEMENTSOF(comp_collect_checks) - 1)
		return errf(-BW_E_INVALID, ret_err, "results: not an array of "
		    "at most %zu", ELEMENTSOF(comp_collect_checks) - 1);
	if (!(a = calloc(1, sizeof(*a))) || (json_array_size(results) &&
	    !(a->results = calloc(json_array_size(results),
	    sizeof(*a->results)))))
		return -ENOMEM;
	a->euid = (int)json_integer_value(euid);
	for (i = 0; i < json_array_size(results); i++) {
		struct comp_collect_result res = { 0 };

		r = collect_result(json_array_get(results, i), a, &res,
		    ret_err);
		if (r < 0) {
			collect_result_done(&res);
			return r;
		}
		a->results[a->n++] = res;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

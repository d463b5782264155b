#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "daemon/compliance-api.h"
#include "daemon/waiver-api.h"
#include "audit/search.h"
#include "audit/segment.h"
#include "audit/signer.h"
#include "audit/trail.h"
#include "audit/verify.h"
#include "compliance/collect.h"
#include "compliance/conmon.h"
#include "compliance/evidence.h"
#include "compliance/oscal.h"
#include "compliance/proc-confinement.h"
#include "compliance/ssp.h"
#include "compliance/waiver.h"
#include "console/console-conf.h"
#include "controlplane/authz-probe.h"
#include "controlplane/commit.h"
#include "controlplane/resource.h"
#include "controlplane/store.h"
#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "lib/buf.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"

static const char *const baseline_names[] = { "low", "moderate", "high" };
static const char *const baseline_files[] = {
	COMP_BASELINE_LOW, COMP_BASELINE_MODERATE, COMP_BASELINE_HIGH,
};

static int
baseline_index(const char *name)
{
	size_t i;

	for (i = 0; i < ELEMENTSOF(baseline_names); i++)
		if (strcmp(baseline_names[i], name) == 0)
			return (int)i;
	return -ENOENT;
}

static int
load_data(struct compliance_api *ca, int which, char **ret_err)
{
	char	path[PATH_MAX + 128];
	int	r;

	if (!ca->cat) {
		snprintf(path, sizeof(path), "%s/" COMP_CATALOG_FILE, ca->data_dir);
		if ((r = comp_catalog_load(path, &ca->cat, ret_err)) < 0)
			return r;
	}
	if (!ca->base[which]) {
		snprintf(path, sizeof(path), "%s/%s", ca->data_dir,
		    baseline_files[which]);
		if ((r = comp_baseline_load(path, ca->cat, &ca->base[which],
		    ret_err)) < 0)
			return r;
	}
	return 0;
}

/* ---- helpers of gather_facts(): each reads live state ---- */

#define FACTS_PROBLEMS_MAX	16
#define FACTS_REVIEW_WINDOW_S	(31 * 86400)
#define FACTS_CONFIG_MAX	(64 * 1024)
#define FACTS_HISTORY_PAGE	1024	/* change-log entries read at a time */

static time_t
facts_rfc3339(const char *s)
{
	time_t t;

	return bw_time_parse(s, &t) < 0 ? (time_t)-1 : t;
}

static int
facts_list(struct compliance_api *ca, const char *kind, struct store_kv ***ret,
    size_t *ret_n)
{
	char	prefix[RES_KEY_MAX];
	int	r;

	*ret = NULL;
	*ret_n = 0;
	if (!ca->srv)
		return -ENOENT;
	if ((r = res_prefix(res_kind_by_name(kind), NULL, prefix,
	    sizeof(prefix))) < 0)
		return r;
	return store_list(api_store(ca->srv), prefix, ret, ret_n, NULL);
}

/* Whether one of the RoleBinding documents in B grants ROLE to
 * PRINCIPAL in TENANT (ROLE NULL: any role). */
static bool
facts_bound(json_t *b, const char *tenant, const char *principal,
    const char *role)
{
	json_t *d;
	size_t i;

	json_array_foreach(b, i, d) {
		json_t *spec = json_object_get(d, "spec");
		const char *t = res_tenant(d);
		const char *p = json_string_value(json_object_get(spec,
		    "principal"));
		const char *r = json_string_value(json_object_get(spec, "role"));

		if (t && p && r && !strcmp(t, tenant) && !strcmp(p, principal) &&
		    (!role || !strcmp(r, role)))
			return true;
	}
	return false;
}

/* Lifetime in whole days of the certificate at PATH; a negative error
 * if it cannot be read. */
static int
facts_cert_days(const char *path)
{
	FILE	*fp = fopen(path, "re");
	X509	*x;
	int	 days = -1, secs = 0;

	if (!fp)
		return -errno;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	/* Whole days: certificates are backdated a little for clock skew. */
	if (!x || !ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
	    X509_get0_notAfter(x)))
		days = -1;
	X509_free(x);
	return days;
}

/* AC-2(1), AC-2(2), AC-2(13): the principals in the store against their
 * RoleBindings and the revocation list the API server enforces (loaded
 * from the same file), and the longest credential lifetime issued. */
static void
facts_accounts(struct compliance_api *ca, struct comp_facts *f)
{
	static char		 prob[FACTS_PROBLEMS_MAX][192];
	static const char	*probs[FACTS_PROBLEMS_MAX + 1];
	static const char *const boot[] = { "admin.crt", "auditor.crt" };
	struct store_kv		**pk = NULL, **bk = NULL;
	struct pki_revoked	*rev = NULL;
	_cleanup_json_ json_t	*bindings = NULL;
	_cleanup_free_ char	*err = NULL;
	char			 pkidir[PATH_MAX + 8], path[PATH_MAX + 32];
	size_t			 np = 0, nb = 0, i, nprob = 0;
	int			 maxdays = 0, d;

	snprintf(pkidir, sizeof(pkidir), "%s/pki", ca->appliance_dir);
	/* bulwarkd wires the revocation list into every request
	 * (daemon-config.c: is_revoked, checked in api.c before the role
	 * binding); what can fail at run time is the list itself. */
	if (pki_revoked_load(pkidir, &rev, &err) < 0) {
		f->revocation_per_request = COMP_NO;
		return;
	}
	f->revocation_per_request = COMP_YES;
	if (facts_list(ca, "Principal", &pk, &np) < 0 ||
	    facts_list(ca, "RoleBinding", &bk, &nb) < 0 ||
	    !(bindings = json_array()))
		goto out;
	for (i = 0; i < nb; i++) {
		json_t *b = json_loadb(bk[i]->value, bk[i]->value_len, 0, NULL);

		/* An unreadable binding grants nothing (api.c ignores it too). */
		if (b && json_array_append_new(bindings, b) < 0)
			goto out;
	}
	for (i = 0; i < np; i++) {
		_cleanup_json_ json_t *doc = json_loadb(pk[i]->value,
		    pk[i]->value_len, 0, NULL);
		json_t *spec = json_object_get(doc, "spec");
		const char *t = res_tenant(doc), *n = res_name(doc);
		const char *role = json_string_value(json_object_get(spec, "role"));
		const char *serial = json_string_value(json_object_get(spec,
		    "serial"));
		const char *state = json_string_value(json_object_get(
		    json_object_get(doc, "status"), "state"));
		const char *why = NULL;
		time_t c, na;

		if (!t || !n || !role || !serial || !state)
			why = "malformed Principal object";
		else if (!strcmp(state, "Revoked")) {
			if (!pki_is_revoked(rev, serial))
				why = "revoked in the store, certificate not "
				    "on the revocation list";
			else if (facts_bound(bindings, t, n, NULL))
				why = "revoked but still has a RoleBinding";
		} else if (pki_is_revoked(rev, serial))
			why = "certificate revoked, store says Active";
		else if (!facts_bound(bindings, t, n, role))
			why = "active without a RoleBinding for its role";
		else {
			c = facts_rfc3339(json_string_value(json_object_get(
			    json_object_get(doc, "metadata"), "created")));
			na = facts_rfc3339(json_string_value(json_object_get(
			    spec, "not_after")));
			if (c == (time_t)-1 || na == (time_t)-1)
				why = "no creation or expiry time";
			else if ((d = (int)((na - c) / 86400)) > maxdays)
				maxdays = d;
		}
		if (why && nprob < FACTS_PROBLEMS_MAX) {
			snprintf(prob[nprob], sizeof(prob[nprob]), "%s/%s: %s",
			    t ? t : "?", n ? n : "?", why);
			probs[nprob] = prob[nprob];
			nprob++;
		}
	}
	probs[nprob] = NULL;
	f->principals = (int)np;
	f->account_problems = probs;
	/* The first-start credentials are principals too (files, not
	 * store objects). */
	for (i = 0; i < ELEMENTSOF(boot); i++) {
		snprintf(path, sizeof(path), "%s/%s", pkidir, boot[i]);
		if ((d = facts_cert_days(path)) > maxdays)
			maxdays = d;
	}
	f->principal_max_days = maxdays;
out:
	store_kv_array_free(pk, np);
	store_kv_array_free(bk, nb);
	pki_revoked_free(rev);
}

/* The TPM that roots the appliance, as the local Node's status reports
 * it (identity_tpm_json() at registration); a software TPM anywhere
 * wins over a hardware one. */
static void
facts_tpm(struct compliance_api *ca, struct comp_facts *f)
{
	struct store_kv	**kv = NULL;
	size_t		  n = 0, i;

	if (facts_list(ca, "Node", &kv, &n) < 0)
		return;
	for (i = 0; i < n; i++) {
		_cleanup_json_ json_t *d = json_loadb(kv[i]->value,
		    kv[i]->value_len, 0, NULL);
		const char *k = json_string_value(json_object_get(json_object_get(
		    json_object_get(d, "status"), "tpm"), "kind"));

		if (k && !strcmp(k, "software"))
			f->tpm = COMP_TPM_SOFTWARE;
		else if (k && !strcmp(k, "hardware") && f->tpm != COMP_TPM_SOFTWARE)
			f->tpm = COMP_TPM_HARDWARE;
	}
	store_kv_array_free(kv, n);
}

/* Appends WHO's lockout report LOCK to BUF when it is in lockout;
 * returns 1 if it was, 0 if not, -ENODATA if LOCK says nothing. */
static int
lockout_note(char *buf, size_t len, const char *who, json_t *lock)
{
	size_t have = strlen(buf);
	json_t *v = json_object_get(lock, "in_lockout");

	if (!json_is_boolean(v))
		return -ENODATA;
	if (!json_is_true(v))
		return 0;
	if (have < len)
		snprintf(buf + have, len - have, "%s%s: counter %lld of %lld, "
		    "recovers %s%s", have ? "; " : "", who,
		    (long long)json_integer_value(json_object_get(lock,
		    "counter")), (long long)json_integer_value(json_object_get(
		    lock, "max_tries")), json_string_value(json_object_get(lock,
		    "recovers_by")) ? "by " : "", json_string_value(
		    json_object_get(lock, "recovers_by")) ?: json_string_value(
		    json_object_get(lock, "recovers")) ?: "(unknown)");
	return 1;
}

/* TPM dictionary-attack lockout: the appliance's own TPM now, and each
 * node's TPM as its last quote reported it. */
static void
facts_tpm_lockout(struct compliance_api *ca, struct comp_facts *f)
{
	static char	  detail[1024];
	struct store_kv	**kv = NULL;
	size_t		  n = 0, i;
	int		  known = 0, locked = 0, r;

	detail[0] = '\0';
	if (ca->tpm_lockout) {
		_cleanup_json_ json_t *own =
		    ca->tpm_lockout(ca->tpm_lockout_arg);

		if ((r = lockout_note(detail, sizeof(detail), "bulwarkd's TPM",
		    own)) >= 0) {
			known = 1;
			locked += r;
		}
	}
	if (facts_list(ca, "Node", &kv, &n) == 0) {
		for (i = 0; i < n; i++) {
			_cleanup_json_ json_t *d = json_loadb(kv[i]->value,
			    kv[i]->value_len, 0, NULL);
			const char *name = json_string_value(json_object_get(
			    json_object_get(d, "metadata"), "name"));
			char who[100];

			snprintf(who, sizeof(who), "node %s's TPM",
			    name ?: "?");
			if ((r = lockout_note(detail, sizeof(detail), who,
			    json_object_get(json_object_get(json_object_get(d,
			    "status"), "tpm"), "lockout"))) >= 0) {
				known = 1;
				locked += r;
			}
		}
		store_kv_array_free(kv, n);
	}
	if (!known)
		return;
	f->tpm_lockouts = locked;
	f->tpm_lockout_detail = detail;
}

/* The attestation and bootstrap settings from the configuration file
 * the identity module measured at start (DIR/bulwarkd.conf; defaults as
 * in identity.c for absent keys). A --config elsewhere leaves them
 * unknown. The cadence is not read here: it is the one of the
 * configuration bulwarkd loaded (ca->cadence_s, set at start). */
static void
facts_settings(struct compliance_api *ca, struct comp_facts *f)
{
	_cleanup_free_ char	*text = NULL, *err = NULL;
	_cleanup_json_ json_t	*o = NULL;
	char			 path[PATH_MAX + 32];
	json_t			*att, *v;
	size_t			 len;
	long			 interval = 60, stale = 0, boot = 3600;

	snprintf(path, sizeof(path), "%s/bulwarkd.conf", ca->appliance_dir);
	if (read_regular_at(AT_FDCWD, path, FACTS_CONFIG_MAX, 0, &text,
	    &len) < 0 ||
	    json_parse_bounded(text, len, 8, &o, &err) < 0)
		return;
	att = json_object_get(o, "attestation");
	if ((v = json_object_get(att, "interval_seconds")) && json_is_integer(v))
		interval = (long)json_integer_value(v);
	if ((v = json_object_get(att, "stale_after_seconds")) &&
	    json_is_integer(v))
		stale = (long)json_integer_value(v);
	if ((v = json_object_get(att, "bootstrap_max_seconds")) &&
	    json_is_integer(v))
		boot = (long)json_integer_value(v);
	if (stale == 0)
		stale = 3 * interval;
	if (interval < 1 || interval > INT_MAX || stale < 1 || stale > INT_MAX ||
	    boot < 1 || boot > INT_MAX)
		return;
	f->attest_interval_s = (int)interval;
	f->attest_stale_s = (int)stale;
	f->bootstrap_max_s = (int)boot;
}

void
compliance_facts_console(const char *path, struct comp_facts *f)
{
	struct console_conf	 conf;
	_cleanup_free_ char	*err = NULL;

	/* Not console_conf_load(): the console's defaults for a missing
	 * file would claim a lock on an appliance whose administrators do
	 * not log in through the console (the installer writes no
	 * console.json), and a file someone other than root may write, or
	 * a FIFO in its place, proves nothing (or never answers). */
	if (console_conf_load_trusted(path, &conf, &err) < 0)
		return;
	/* AC-11: the console locks after idle_timeout seconds without a
	 * key (console.c session_wait()); the parser bounds it to 1..86400,
	 * the check compares it with the policy. */
	f->idle_lock_s = conf.idle_timeout;
	/* AC-11(1): lock_screen() erases the whole screen, the terminal's
	 * copy too, before it draws the lock view, which shows only the
	 * user's name and the password prompt (console.sh checks the
	 * captured screen). A property of the code, so it holds whenever
	 * the console runs with this configuration. */
	f->lock_conceals = COMP_YES;
	/* IA-11: the API has no bearer tokens. What stands for a person's
	 * authentication is the console's session certificate, issued by
	 * bulwarkd after PAM accepted the user (console.c
	 * session_credential(), console-cred.c). bulwarkd issues at most
	 * session_max of this file read this same way
	 * (ccred_lifetime_max()), whatever the console asks, so that is
	 * the lifetime the appliance enforces. A
	 * principal's own certificate is not a token but the authenticator
	 * itself, proved afresh at every TLS handshake (no session cache,
	 * no tickets: crypto-policy.c); its lifetime is
	 * ac-credential-expiry's fact. With fallback_credential the console
	 * may instead use a certificate from a file, whose lifetime this
	 * file does not tell: unknown then. */
	if (!conf.fallback_credential)
		f->token_lifetime_s = conf.session_max;
	console_conf_clear(&conf);
}

/* What of a stored object is its configuration: the object without its
 * status (what controllers, agents and nodes report), NULL for a delete.
 * A value that is not JSON counts as itself. Returns a new reference. */
static json_t *
facts_config_part(const struct store_event *ev)
{
	json_t *doc = NULL;

	if (ev->type != STORE_OP_PUT)
		return json_null();
	if (json_parse_bounded(ev->value, ev->value_len, BW_JSON_MAX_DEPTH,
	    &doc, NULL) < 0)
		return json_stringn(ev->value, ev->value_len);
	if (json_is_object(doc))
		json_object_del(doc, "status");
	return doc;
}

/* Notes the change EV in LAST (store key -> the configuration part of
 * its latest change) and counts it in *KEPT when it is a configuration
 * change with a previous version in the log: an earlier change to the
 * same key, whose value differs from it otherwise than in its status.
 * Kinds only the system writes (RES_F_SYSTEM_WRITES: instances,
 * waivers) are no one's configuration. */
static int
facts_note_change(json_t *last, const struct store_event *ev, size_t *kept)
{
	const struct res_kind	*k;
	char			 tenant[64], name[64];
	json_t			*prev, *cur;

	if (res_key_parse(ev->key, &k, tenant, sizeof(tenant), name,
	    sizeof(name)) < 0 || (k->flags & RES_F_SYSTEM_WRITES))
		return 0;
	if (!(cur = facts_config_part(ev)))
		return -ENOMEM;
	prev = json_object_get(last, ev->key);
	if (prev && !json_equal(prev, cur))
		(*kept)++;
	return json_object_set_new(last, ev->key, cur) < 0 ? -ENOMEM : 0;
}

/* The configuration changes in ST's change log after its compaction
 * horizon that have a previous version there (facts_note_change()), in
 * *RET_N. -BW_E_COMPACTED when the horizon moved while reading. */
static int
facts_count_changes(struct store *st, size_t *ret_n)
{
	_cleanup_json_ json_t	*last = json_object();
	struct store_event	*ev = NULL;
	uint64_t		 since = store_compacted_revision(st);
	size_t			 n, i, kept = 0;
	int			 r = 0;

	if (!last)
		return -ENOMEM;
	do {
		r = store_changes(st, "/r/", since, FACTS_HISTORY_PAGE, &ev,
		    &n);
		if (r < 0)
			return r;
		for (i = 0; i < n && r >= 0; i++)
			r = facts_note_change(last, &ev[i], &kept);
		if (n > 0)
			since = ev[n - 1].rev;
		store_events_free(ev, n);
		ev = NULL;
		if (r < 0)
			return r;
	} while (n == FACTS_HISTORY_PAGE);
	*ret_n = kept;
	return 0;
}

void
compliance_facts_config_history(struct store *st, struct comp_facts *f)
{
	uint64_t	retention, horizon;
	size_t		kept;
	int		r, tries;

	if (!st)
		return;
	/* The configuration is the stored objects (/r/). Each change in
	 * the change log carries the object's new value, so for a change
	 * whose key has an earlier change in the log, the object's previous
	 * version can be read back (GET /v1/watch?since=REV); for the
	 * first one the log holds (a creation, or a change whose
	 * predecessor was compacted) it cannot, so it is not counted.
	 * Status reports and the kinds only the system writes are not
	 * configuration and not counted either, nor the appliance's own
	 * records (scans, outbox) that share the log. store_maintain()
	 * keeps store.history_revisions changes (bulwarkd.conf). Nothing
	 * re-applies an earlier version: an administrator would read it
	 * and apply it again. A store at its retention compacts after each
	 * batch, so a count overtaken by the horizon starts again from the
	 * new one. */
	for (tries = 0; tries < 3; tries++)
		if ((r = facts_count_changes(st, &kept)) != -BW_E_COMPACTED)
			break;
	if (r < 0)
		return;
	f->config_revisions = kept > INT_MAX ? INT_MAX : (int)kept;
	retention = store_history_revisions(st);
	f->config_retention = retention > LONG_MAX ? LONG_MAX :
	    (long)retention;
	/* Nothing compacted yet: the log reaches back to the first
	 * revision, so no previous version was ever dropped. A horizon
	 * that could not be read (etcd out of reach) says nothing. */
	if (store_compacted_revision_read(st, &horizon) < 0)
		return;
	f->config_history_whole = horizon == 0 ? COMP_YES : COMP_NO;
}

/* SC-5: the store's capacity as its last housekeeping measured it; the
 * commit pipeline compacts the change log after every batch
 * (store_maintain). */
static void
facts_store(struct compliance_api *ca, struct comp_facts *f)
{
	struct store_capacity c;

	if (!ca->srv || store_capacity(api_store(ca->srv), &c) < 0)
		return;
	f->store_used_pct = (int)c.used_pct;
	f->store_high_water_pct = (int)c.high_water_pct;
	f->store_compaction = COMP_YES;
}

/* SI-10: malformed documents through the validator every API write
 * uses; each must be refused, the well-formed one accepted. */
static void
facts_input_probes(struct comp_facts *f)
{
#define WL_META	"\"metadata\": {\"name\": \"web\", \"tenant\": \"acme\"}"
#define WL_IMG	"\"image\": \"sha256:" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""
#define WL_RES	"\"resources\": {\"cpu_millis\": 250, \"memory_mib\": 64}"
	static const char good[] = "{\"kind\": \"Workload\", " WL_META
	    ", \"spec\": {\"type\": \"container\", " WL_IMG ", \"replicas\": 3, "
	    WL_RES "}}";
	static const char *const bad[] = {
		/* unknown field */
		"{\"kind\": \"Workload\", " WL_META ", \"spec\": {\"type\": "
		"\"container\", " WL_IMG ", \"replicas\": 3, " WL_RES
		", \"privileged\": true}}",
		/* out of range */
		"{\"kind\": \"Workload\", " WL_META ", \"spec\": {\"type\": "
		"\"container\", " WL_IMG ", \"replicas\": 100000, " WL_RES "}}",
		/* wrong type */
		"{\"kind\": \"Workload\", " WL_META ", \"spec\": {\"type\": "
		"\"container\", " WL_IMG ", \"replicas\": \"3\", " WL_RES "}}",
		/* not a DNS label */
		"{\"kind\": \"Workload\", \"metadata\": {\"name\": \"Web_1\", "
		"\"tenant\": \"acme\"}, \"spec\": {\"type\": \"container\", "
		WL_IMG ", \"replicas\": 3, " WL_RES "}}",
		/* path in a tenant name */
		"{\"kind\": \"Workload\", \"metadata\": {\"name\": \"web\", "
		"\"tenant\": \"../etc\"}, \"spec\": {\"type\": \"container\", "
		WL_IMG ", \"replicas\": 3, " WL_RES "}}",
		/* an image that is not a digest */
		"{\"kind\": \"Workload\", " WL_META ", \"spec\": {\"type\": "
		"\"container\", \"image\": \"web:latest\", \"replicas\": 3, "
		WL_RES "}}",
		/* missing required field */
		"{\"kind\": \"Workload\", " WL_META ", \"spec\": {\"type\": "
		"\"container\", " WL_IMG ", \"replicas\": 3}}",
		/* value not in the allowed set */
		"{\"kind\": \"Workload\", " WL_META ", \"spec\": {\"type\": "
		"\"chroot\", " WL_IMG ", \"replicas\": 3, " WL_RES "}}",
		/* unknown kind, no kind */
		"{\"kind\": \"Secret\", " WL_META ", \"spec\": {}}",
		"{" WL_META ", \"spec\": {}}",
	};
	const struct res_kind	*k;
	size_t			 i;
	int			 rejected = 0;

	for (i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_json_ json_t *d = json_loads(bad[i], 0, NULL);
		_cleanup_free_ char *err = NULL;

		if (d && res_validate(d, NULL, NULL, &k, &err) < 0 && err)
			rejected++;
	}
	{
		_cleanup_json_ json_t *d = json_loads(good, 0, NULL);
		_cleanup_free_ char *err = NULL;

		f->input_valid_accepted = d && res_validate(d, NULL, NULL, &k,
		    &err) == 0 ? COMP_YES : COMP_NO;
	}
	f->input_probes = (int)ELEMENTSOF(bad);
	f->input_rejected = rejected;
#undef WL_META
#undef WL_IMG
#undef WL_RES
}

static int
facts_review_cb(const struct audit_record *rec, const char *line, size_t len,
    void *userdata)
{
	time_t *latest = userdata;

	(void)line;
	(void)len;
	if (rec->role && !strcmp(rec->role, "security-auditor") &&
	    rec->time.tv_sec > *latest)
		*latest = rec->time.tv_sec;
	return 0;
}

/* AU-6: when a security auditor last searched the trail (the search
 * endpoint records itself), over the last 31 days. */
static void
facts_review(struct compliance_api *ca, struct comp_facts *f, time_t now)
{
	struct audit_search_filter	 flt = { .action = "audit.search",
					     .outcome = "success" };
	_cleanup_free_ char		*err = NULL;
	time_t				 latest = 0;

	if (!ca->audit_dir[0])
		return;
	flt.since.tv_sec = now - FACTS_REVIEW_WINDOW_S;
	if (audit_search_dir(ca->audit_dir, &flt, facts_review_cb, &latest,
	    &err) != 0)
		return;
	f->audit_review_age_s = latest ? (long)(now - latest) : -2;
}

/* The time a scan record's store KEY was written (its name is the
 * time), or -1. */
static time_t
scan_key_time(const char *key)
{
	size_t		plen = strlen(COMPLIANCE_KEY_PREFIX);
	char		secs[21], *end;
	long long	t;

	/* run_scan() names it "%020lld%09ld": seconds, then nanoseconds. */
	if (strncmp(key, COMPLIANCE_KEY_PREFIX, plen) != 0 ||
	    strlen(key + plen) < 20)
		return (time_t)-1;
	memcpy(secs, key + plen, 20);
	secs[20] = '\0';
	errno = 0;
	t = strtoll(secs, &end, 10);
	return errno || *end || t < 0 ? (time_t)-1 : (time_t)t;
}

/* The recorded scans, oldest first (store keys sort by time). */
static int
scan_records(struct compliance_api *ca, struct store_kv ***ret, size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	if (!ca->srv)
		return -ENOENT;
	return store_list(api_store(ca->srv), COMPLIANCE_KEY_PREFIX, ret,
	    ret_n, NULL);
}

/* Fills ca->latest_key from the store when no scan has been committed
 * since bulwarkd started (the only time every record is read). */
static void
scan_latest_keys(struct compliance_api *ca)
{
	struct store_kv	**kvs = NULL;
	size_t		  n = 0, i, k, known = 0;

	for (k = 0; k < ELEMENTSOF(ca->latest_key); k++)
		known += ca->latest_key[k][0] != '\0';
	if (known || scan_records(ca, &kvs, &n) < 0)
		return;
	for (i = n; i-- > 0;) {
		_cleanup_json_ json_t *d = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		int b = baseline_index(json_string_value(json_object_get(d,
		    "baseline")) ?: "");

		if (b >= 0 && !ca->latest_key[b][0])
			snprintf(ca->latest_key[b], sizeof(ca->latest_key[b]), "%s",
			    kvs[i]->key);
	}
	store_kv_array_free(kvs, n);
}

/* CA-7 freshness: how long before NOW the previous scan (of any
 * baseline: each runs every check it selects) was recorded. */
static void
facts_prev_scan(struct compliance_api *ca, struct comp_facts *f, time_t now)
{
	time_t	t, latest = (time_t)-1;
	size_t	k;

	if (!ca->srv)
		return;
	scan_latest_keys(ca);
	for (k = 0; k < ELEMENTSOF(ca->latest_key); k++)
		if ((t = scan_key_time(ca->latest_key[k])) > latest)
			latest = t;
	f->prev_scan_age_s = latest == (time_t)-1 ? -2 :
	    now > latest ? (long)(now - latest) : 0;
}

/* The mark a scan record carries ("audit_verified"), into *RET; a
 * malformed one is ignored (RET untouched), so the next walk is whole. */
static void
audit_mark_from_json(const json_t *o, struct audit_verify_mark *ret)
{
	json_int_t	 seq = 0, off = 0;
	const char	*seg = NULL, *hash = NULL;
	uint64_t	 first;

	if (!o || json_unpack((json_t *)o, "{s:I, s:s, s:I, s:s}", "seq", &seq,
	    "segment", &seg, "offset", &off, "hash", &hash) < 0 ||
	    seq < 1 || off < 2 || audit_segment_name_parse(seg, &first) < 0 ||
	    first > (uint64_t)seq || strlen(hash) != AUDIT_HASH_HEX ||
	    strspn(hash, "0123456789abcdef") != AUDIT_HASH_HEX)
		return;
	ret->seq = (uint64_t)seq;
	ret->offset = (uint64_t)off;
	snprintf(ret->segment, sizeof(ret->segment), "%s", seg);
	memcpy(ret->hash, hash, sizeof(ret->hash));
}

/* The mark of the newest committed scan (of any baseline), read once:
 * after a restart the first scan resumes there too. */
static void
facts_audit_mark_load(struct compliance_api *ca)
{
	struct store_kv	*kv = NULL;
	const char	*newest = "";
	size_t		 k;

	ca->audit_mark_loaded = true;
	if (!ca->srv)
		return;
	scan_latest_keys(ca);
	/* the keys are the times of the scans */
	for (k = 0; k < ELEMENTSOF(ca->latest_key); k++)
		if (strcmp(ca->latest_key[k], newest) > 0)
			newest = ca->latest_key[k];
	if (!newest[0] || store_get(api_store(ca->srv), newest, &kv) < 0)
		return;
	{
		_cleanup_json_ json_t *doc = json_loadb(kv->value,
		    kv->value_len, 0, NULL);

		audit_mark_from_json(json_object_get(doc, "audit_verified"),
		    &ca->audit_mark);
	}
	store_kv_free(kv);
}

/* The checkpoint keys the scan trusts into KEYS (at most
 * AUDIT_KEYS_MAX, not owned): the signer's public key, held in memory,
 * then the earlier keys the trail's key file named at start. Returns
 * how many. */
static size_t
facts_audit_keys(const struct compliance_api *ca, EVP_PKEY **keys)
{
	size_t n = 0;

	if (ca->signer && ca->signer->pubkey)
		keys[n++] = ca->signer->pubkey;
	for (size_t i = 0; i < ca->n_trail_keys && n < AUDIT_KEYS_MAX; i++)
		if (!n || EVP_PKEY_eq(ca->trail_keys[i], keys[0]) != 1)
			keys[n++] = ca->trail_keys[i];
	return n;
}

/* AU-9, AU-10, AU-11: the trail's hash chain, verified from where the
 * last committed scan's verification stopped, and its oldest record.
 * The mark lives in the store, in the scan record the commit pipeline
 * writes (whose audit record names it too), and in memory once that
 * commit succeeded; not beside the trail. Whoever can rewrite segment
 * files cannot move it forward past records they changed, and a
 * segment rewritten under it fails the scan (audit_verify_dir_from())
 * instead of starting over from the rewritten chain. Signing it with
 * the trail's own checkpoint key would add nothing the store does not
 * give, and the key lives in the TPM. `bulwark audit verify` and
 * bulwark-verify still walk the whole trail. */
static void
facts_audit_trail(struct compliance_api *ca, struct comp_facts *f)
{
	struct audit_status as = { 0 };
	EVP_PKEY	*keys[AUDIT_KEYS_MAX];
	size_t		 nkeys;

	if (!ca->audit_dir[0])
		return;
	nkeys = facts_audit_keys(ca, keys);
	if (!ca->audit_mark_loaded)
		facts_audit_mark_load(ca);
	/* Records are written before their fdatasync: the mark stops at
	 * the last durable one, which a failed commit cannot take back. */
	if (ca->trail)
		audit_trail_status(ca->trail, &as);
	if (comp_audit_facts(ca->audit_dir, keys, nkeys, &ca->audit_mark,
	    as.last_seq, time(NULL), f, &ca->audit_facts) < 0)
		f->audit_chain_intact = COMP_NO;
}

/* AC-4, AC-4(21): tenant isolation, probed live on the stored objects
 * with the decisions the API's get, list and write paths take
 * (authz_probe_tenancy()). */
static void
facts_tenancy(struct compliance_api *ca, struct comp_facts *f)
{
	static char			 detail[320];
	struct authz_probe_report	 rep;
	int				 r;

	if (!ca->srv)
		return;
	if ((r = authz_probe_tenancy(api_store(ca->srv), NULL, &rep)) < 0) {
		log_warn("compliance: tenant isolation probe: %s",
		    bw_strerror(r));
		return;	/* unknown: not shown */
	}
	f->tenant_isolation = authz_probe_isolated(&rep) ? COMP_YES : COMP_NO;
	if (rep.leaks)
		snprintf(detail, sizeof(detail), "%" PRIu64 " of %" PRIu64
		    " decisions about another tenant allowed, first: %s",
		    rep.leaks, rep.foreign, rep.first_leak);
	else if (rep.tenants_unprobed)
		snprintf(detail, sizeof(detail), "not determined: %u of %u "
		    "tenants probed (at most %d, names under 64 bytes); "
		    "%" PRIu64 " decisions about another tenant's objects and "
		    "collections refused", rep.tenants_found -
		    rep.tenants_unprobed, rep.tenants_found,
		    AUTHZ_PROBE_TENANTS, rep.foreign);
	else
		snprintf(detail, sizeof(detail), "%u tenants, %u tenant-scoped "
		    "kinds, %" PRIu64 " objects: %" PRIu64 " decisions about "
		    "another tenant's objects and collections all refused; "
		    "%" PRIu64 " of %" PRIu64 " own objects hidden from their "
		    "tenant's list", rep.tenants, rep.kinds, rep.objects,
		    rep.foreign, rep.own_hidden, rep.own);
	f->tenant_isolation_detail = detail;
}

/* What the daemon knows about itself. Properties this build lacks are
 * reported as such (never as satisfied). */
/* One more of bulwarkd's processes, NAME, read from the kernel into
 * *RET and appended to DETAIL; SECCOMP and NNP stay true only while
 * every process read has a filter and no new privileges. Returns 0, or
 * a negative error when PID cannot be read (then DETAIL says so). */
static int
facts_process(const char *name, pid_t pid, struct comp_confinement *ret,
    char *detail, size_t len, bool *seccomp, bool *nnp)
{
	_cleanup_free_ char	*err = NULL;
	size_t			 n;
	int			 r = -ESRCH;

	n = strlen(detail);
	if (pid <= 0 || (r = comp_proc_confinement(pid, ret, &err)) < 0) {
		if (pid > 0)
			log_warn("compliance: %s: %s", name, err);
		snprintf(detail + n, len - n, "; %s: not running or not "
		    "readable", name);
		return r;
	}
	snprintf(detail + n, len - n, "; %s: ", name);
	n = strlen(detail);
	comp_confinement_str(ret, detail + n, len - n);
	*seccomp = *seccomp && ret->seccomp == COMP_SECCOMP_FILTER;
	*nnp = *nnp && ret->no_new_privs;
	return 0;
}

/* SC-2, SC-39, AC-6: the confinement bulwarkd runs under, read from the
 * kernel for each of its processes (the parent, whose threads share it,
 * the spawner and the API worker): every one of them must have a
 * seccomp filter and no new privileges for those facts to hold. The
 * process that serves the network is privilege-separated only if it
 * holds no root uid and no effective capability; a privileged parent
 * could not make up for either. */
static void
facts_confinement(struct compliance_api *ca, struct comp_facts *f)
{
	static char		 detail[512];
	struct comp_confinement	 c, w, s;
	_cleanup_free_ char	*err = NULL;
	bool			 seccomp, nnp, worker = false;
	pid_t			 wpid = 0;

	if (comp_proc_confinement(getpid(), &c, &err) < 0) {
		log_warn("compliance: %s", err);
		return;	/* the facts stay unknown: not shown */
	}
	comp_confinement_str(&c, detail, sizeof(detail));
	f->confinement_detail = detail;
	seccomp = c.seccomp == COMP_SECCOMP_FILTER;
	nnp = c.no_new_privs;
	/* With --privsep the facts hold only if the spawner (when one
	 * started) and the worker can be read: one that cannot (gone, or
	 * none between a crash and its restart) makes them NO, never the
	 * parent's alone (fail closed). */
	if (ca->spawner_pid && facts_process("spawner", ca->spawner_pid, &s,
	    detail, sizeof(detail), &seccomp, &nnp) < 0)
		seccomp = nnp = false;
	if (ca->worker_pid) {
		wpid = ca->worker_pid(ca->worker_arg);
		worker = facts_process("API worker", wpid, &w, detail,
		    sizeof(detail), &seccomp, &nnp) == 0;
		if (!worker)
			seccomp = nnp = false;
	}
	f->seccomp = seccomp ? COMP_YES : COMP_NO;
	f->no_new_privs = nnp ? COMP_YES : COMP_NO;
	/* Privilege separation means an unprivileged network-facing process
	 * beside a privileged parent. bulwarkd is still one process, so an
	 * unprivileged bulwarkd is not separated either (docs/hardening.md);
	 * the detail shows the live state either way. */
	f->privsep = COMP_NO;
	/* --privsep: the network-facing TLS worker beside this parent.
	 * Separated when it runs as another user than root and bulwarkd,
	 * with no effective capability, no new privileges and a seccomp
	 * filter, as read from its /proc status now. */
	if (!worker)
		return;
	f->privsep = w.euid != 0 && w.ruid != 0 && w.euid != c.euid &&
	    w.cap_eff == 0 && w.no_new_privs &&
	    w.seccomp == COMP_SECCOMP_FILTER ? COMP_YES : COMP_NO;
}

static void
gather_facts(struct compliance_api *ca, struct comp_facts *f, char *ca_path,
    char *cert_path, size_t len)
{
	/* In the policy's form (METHOD PATH, compliance/check.c's
	 * approved list), which ac-unauth-actions compares literally. */
	static const char *const unauth[] = { "GET /healthz", NULL };
	/* compliance_api_handle() lets only these roles start a scan. */
	static const char *const scan_roles[] = { "system-admin",
		"security-auditor", NULL };
	static const char *cert_paths[2];
	struct audit_status		 as = { 0 };
	char				 path[PATH_MAX + 32];
	struct stat			 st;

	comp_facts_init(f);
	f->tls_min_version = TLS1_2_VERSION;
	f->tls_cipher_list = crypto_tls_cipher_list();
	f->tls_ciphersuites = crypto_tls_ciphersuites();
	f->tls_client_auth = COMP_YES;
	f->fips_provider = ca->fips ? COMP_YES : COMP_NO;
	if (ca->trail) {
		audit_trail_status(ca->trail, &as);
		f->audit_active = as.healthy ? COMP_YES : COMP_NO;
		f->audit_used_pct = (int)as.fs_used_pct;
		/* an age limit only: a count limit shows in the measurement */
		f->audit_retention_days = (int)as.retain_days;
	}
	f->audit_fail_closed = COMP_YES;	/* the commit pipeline's rule */
	facts_audit_trail(ca, f);
	facts_tenancy(ca, f);
	f->rbac = COMP_YES;
	f->separation_of_duties = COMP_YES;
	f->image_signatures_required = COMP_YES;
	f->store_durable = COMP_YES;
	facts_store(ca, f);
	f->session_idle_s = 30;
	f->unauth_endpoints = unauth;
	facts_confinement(ca, f);
	snprintf(ca_path, len, "%s/pki/ca.crt", ca->appliance_dir);
	snprintf(cert_path, len, "%s/pki/server.crt", ca->appliance_dir);
	cert_paths[0] = cert_path;
	cert_paths[1] = NULL;
	f->cert_paths = cert_paths;
	f->ca_path = ca_path;

	/* The CA key is held by the TPM custodian: only its sealed form
	 * may exist, never a clear ca.key. */
	snprintf(path, sizeof(path), "%s/pki/ca.key.sealed", ca->appliance_dir);
	if (stat(path, &st) == 0) {
		snprintf(path, sizeof(path), "%s/pki/ca.key", ca->appliance_dir);
		f->keys_sealed = stat(path, &st) < 0 && errno == ENOENT ?
		    COMP_YES : COMP_NO;
	} else
		f->keys_sealed = COMP_NO;
	/* bwd_open() unseals the root secret (sealed to PCRs including the
	 * configuration's PCR 13; identity.c refuses a seal set without
	 * it) before anything else starts, so a running daemon with a
	 * sealed root is running the configuration it was sealed to. */
	snprintf(path, sizeof(path), "%s/identity/root.sealed",
	    ca->appliance_dir);
	f->config_sealed = stat(path, &st) == 0 ? COMP_YES : COMP_NO;
	facts_tpm(ca, f);
	facts_tpm_lockout(ca, f);
	facts_accounts(ca, f);
	facts_settings(ca, f);
	compliance_facts_console(ca->console_conf, f);
	if (ca->srv)
		compliance_facts_config_history(api_store(ca->srv), f);
	/* sched-filter.c admits Trusted nodes only (--allow-unattested
	 * adds Pending ones, never Untrusted). */
	f->untrusted_excluded = COMP_YES;
	f->scan_roles = scan_roles;
	f->scanner_euid = (int)geteuid();
	facts_input_probes(f);
	facts_review(ca, f, time(NULL));
	if (ca->timer && event_pending(ca->timer, EV_TIMEOUT, NULL))
		f->scan_interval_s = COMPLIANCE_SCAN_INTERVAL_S;
	facts_prev_scan(ca, f, time(NULL));
}

/* The policy of a scan: the default, with the configured cadence. */
static void
scan_policy(const struct compliance_api *ca, struct comp_policy *pol)
{
	*pol = *comp_policy_default();
	pol->evidence_max_age_s = ca->cadence_s;
}

struct scan_op {
	struct commit_req	 creq;		/* first */
	struct compliance_api	*ca;
	struct evhttp_request	*req;		/* NULL for scheduled scans */
	struct authz_identity	 id;
	char			 key[96];
	int			 which;		/* baseline index */
	char			 reason[384];
	char			*value;
	json_t			*reply;
	struct audit_verify_mark mark;		/* where its verification stopped */
	bool			 mark_valid;	/* the chain was intact */
};

static void
scan_done(struct commit_req *creq)
{
	struct scan_op *op = (struct scan_op *)creq;

	if (op->req) {
		if (creq->result == -BW_E_AUDIT)
			api_reply_error(op->ca->srv, op->req, 503, "audit_unavailable",
			    "the scan's audit record could not be made durable; "
			    "the scan was not recorded");
		else if (creq->result < 0)
			api_reply_err(op->ca->srv, op->req, creq->result, NULL);
		else
			api_reply_json(op->ca->srv, op->req, 201, op->reply);
	} else if (creq->result < 0)
		log_warn("scheduled compliance scan not recorded: %s",
		    bw_strerror(creq->result));
	if (creq->result == 0) {
		op->ca->scanned_rev = creq->op.rev;
		snprintf(op->ca->latest_key[op->which],
		    sizeof(op->ca->latest_key[op->which]), "%s", op->key);
		if (op->mark_valid)
			op->ca->audit_mark = op->mark;
		/* what /metrics reports: the last recorded scan */
		json_decref(op->ca->last_families);
		op->ca->last_families = json_incref(json_object_get(
		    json_object_get(op->reply, "summary"), "families"));
	}
	free(op->value);
	json_decref(op->reply);
	free(op);
}

/* The store key of the latest recorded scan of any baseline, or NULL;
 * with its time in *RET_T. */
static const char *
scan_latest_any(struct compliance_api *ca, time_t *ret_t)
{
	const char	*key = NULL;
	time_t		 t, latest = (time_t)-1;
	size_t		 k;

	scan_latest_keys(ca);
	for (k = 0; k < ELEMENTSOF(ca->latest_key); k++)
		if ((t = scan_key_time(ca->latest_key[k])) > latest) {
			latest = t;
			key = ca->latest_key[k];
		}
	*ret_t = latest;
	return key;
}

/* The per-family summary of the scan recorded at KEY (a new
 * reference), or NULL. */
static json_t *
scan_families(struct compliance_api *ca, const char *key)
{
	struct store_kv	*kv = NULL;
	json_t		*doc, *f;

	if (store_get(api_store(ca->srv), key, &kv) < 0)
		return NULL;
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	store_kv_free(kv);
	f = json_incref(json_object_get(json_object_get(doc, "summary"),
	    "families"));
	json_decref(doc);
	return f;
}

void
compliance_api_render_metrics(struct compliance_api *ca, struct bw_buf *b)
{
	const char	*fam, *verdict, *key = NULL;
	json_t		*counts, *n;
	char		 lower[16];
	time_t		 at = (time_t)-1;
	size_t		 i;

	if (ca->srv)
		key = scan_latest_any(ca, &at);
	/* after a restart, the latest record's until the next scan */
	if (key && !ca->last_families)
		ca->last_families = scan_families(ca, key);
	bw_buf_printf(b, "# HELP bulwark_compliance_checks Controls of the last "
	    "recorded scan's baseline by verdict and control family.\n"
	    "# TYPE bulwark_compliance_checks gauge\n");
	json_object_foreach(ca->last_families, fam, counts) {
		for (i = 0; fam[i] && i + 1 < sizeof(lower); i++)
			lower[i] = (char)(fam[i] >= 'A' && fam[i] <= 'Z' ?
			    fam[i] - 'A' + 'a' : fam[i]);
		lower[i] = 0;
		json_object_foreach(counts, verdict, n)
			bw_buf_printf(b, "bulwark_compliance_checks{verdict=\"%s\","
			    "family=\"%s\"} %lld\n", verdict, lower,
			    (long long)json_integer_value(n));
	}
	bw_buf_printf(b, "# HELP bulwark_compliance_last_scan_timestamp_seconds "
	    "When the last scan was recorded (0: never).\n"
	    "# TYPE bulwark_compliance_last_scan_timestamp_seconds gauge\n"
	    "bulwark_compliance_last_scan_timestamp_seconds %lld\n"
	    "# HELP bulwark_compliance_scan_cadence_seconds The most time the "
	    "appliance promises between two scans (compliance.cadence_seconds).\n"
	    "# TYPE bulwark_compliance_scan_cadence_seconds gauge\n"
	    "bulwark_compliance_scan_cadence_seconds %ld\n",
	    (long long)(at == (time_t)-1 ? 0 : at), ca->cadence_s);
}

static const char *
verdict_name(int v)
{
	switch (v) {
	case COMP_SATISFIED: return "satisfied";
	case COMP_NOT_SATISFIED: return "not-satisfied";
	case COMP_NOT_APPLICABLE: return "not-applicable";
	case COMP_ERROR: return "error";
	}
	return "manual";
}

/* Per-family counts over the baseline: satisfied, not-satisfied,
 * not-applicable, and manual (no automated check covers the control). */
static json_t *
summarise(struct compliance_api *ca, int which, const struct comp_scan *scan,
    int *ret_automated)
{
	const struct comp_baseline	*b = ca->base[which];
	json_t				*fam = json_object(), *tot;
	size_t				 i;
	int				 automated = 0;

	tot = json_pack("{s:i, s:i, s:i, s:i, s:i}", "satisfied", 0,
	    "not-satisfied", 0, "not-applicable", 0, "error", 0, "manual", 0);
	for (i = 0; i < comp_baseline_count(b); i++) {
		const struct comp_control	*c = comp_baseline_at(b, i);
		int				 v = comp_scan_control_verdict(scan, c->id);
		const char			*vn = verdict_name(v);
		json_t				*f = json_object_get(fam, c->family);

		if (!f) {
			f = json_pack("{s:i, s:i, s:i, s:i, s:i}", "satisfied", 0,
			    "not-satisfied", 0, "not-applicable", 0, "error", 0,
			    "manual", 0);
			json_object_set_new(fam, c->family, f);
		}
		if (v >= 0)
			automated++;
		json_object_set_new(f, vn, json_integer(
		    json_integer_value(json_object_get(f, vn)) + 1));
		json_object_set_new(tot, vn, json_integer(
		    json_integer_value(json_object_get(tot, vn)) + 1));
	}
	*ret_automated = automated;
	return json_pack("{s:o, s:o}", "total", tot, "families", fam);
}

static json_t *
results_json(const struct comp_scan *scan)
{
	json_t	*arr = json_array();
	size_t	 i, j;

	for (i = 0; i < scan->n; i++) {
		const struct comp_result	*r = scan->results[i];
		json_t				*ctl = json_array(), *obs = json_array();

		for (j = 0; r->check->controls[j]; j++)
			json_array_append_new(ctl, json_string(r->check->controls[j]));
		for (j = 0; j < r->n_obs; j++)
			json_array_append_new(obs, json_pack("{s:s?, s:s?, s:s?, s:b}",
			    "subject", r->obs[j].subject, "found", r->obs[j].found,
			    "required", r->obs[j].required, "ok", r->obs[j].ok));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:o}",
		    "check", r->check->id, "title", r->check->title, "verdict",
		    comp_verdict_str(r->verdict), "controls", ctl, "observations",
		    obs));
	}
	return arr;
}

/* Amends the scan's documents with the stored waivers: approved ones in
 * force make their findings accepted risks, requested ones are the
 * POA&M's deviation requests (compliance/waiver.h). */
static int
apply_waivers(struct compliance_api *ca, json_t *ar, json_t *poam,
    size_t *ret_waived)
{
	struct comp_waiver	*w = NULL;
	size_t			 n = 0;
	time_t			 now = time(NULL);
	int			 r;

	if ((r = waiver_api_list(api_store(ca->srv), &w, &n)) < 0)
		return r;
	r = comp_waivers_apply_ar(ar, w, n, now, ret_waived);
	if (r == 0 && poam)
		r = comp_waivers_apply_poam(poam, w, n, now);
	comp_waivers_free(w, n);
	return r;
}

/* The host part of a scan: comp_scan_run() over BASE on ca->root. When
 * the privileged collector's socket exists, the checks that read
 * root-only files take their host observations from its answer (its
 * euid is then the scanner's, FACTS->scanner_euid) and fail closed when
 * it does not answer well. Without it they read the files themselves;
 * when bulwarkd is not root (the socket unit stopped on the appliance)
 * that is said, logged and fails them too. */
static int
scan_host(struct compliance_api *ca, const struct comp_baseline *base,
    struct comp_facts *facts, const struct comp_policy *pol,
    struct comp_scan **ret, char **ret_err)
{
	_cleanup_(comp_collect_answer_freep) struct comp_collect_answer *ans = NULL;
	_cleanup_(comp_scan_freep) struct comp_scan *scan = NULL;
	_cleanup_free_ char *cerr = NULL, *why = NULL;
	struct comp_ctx ctx = { 0 };
	bool merge;
	int cr, r;

	cr = comp_collect_query(ca->collect_socket, COMP_COLLECT_TIMEOUT_MS,
	    &ans, &cerr);
	/* Root reads every file itself; anyone else needs the collector. */
	merge = cr != -ENOENT || geteuid() != 0;
	if (cr == 0)
		facts->scanner_euid = ans->euid;
	else if (cr == -ENOENT && merge) {
		if (asprintf(&why, "no bulwark-collect at %s: bulwarkd (euid "
		    "%d) cannot read the root-only files", ca->collect_socket,
		    (int)geteuid()) < 0)
			return -ENOMEM;
		log_warn("compliance: %s; its checks are not satisfied", why);
	} else if (cr < 0 && merge) {
		if (asprintf(&why, "bulwark-collect at %s: %s",
		    ca->collect_socket, cerr ? cerr : bw_strerror(cr)) < 0)
			return -ENOMEM;
		log_warn("compliance: %s; its checks are not satisfied", why);
	}
	if ((r = comp_ctx_open(&ctx, ca->root, facts, pol, time(NULL))) < 0)
		return errf(r, ret_err, "cannot open %s: %s", ca->root,
		    bw_strerror(r));
	r = comp_scan_run(&ctx, base, &scan);
	comp_ctx_done(&ctx);
	if (r < 0)
		return errf(r, ret_err, "scan failed: %s", bw_strerror(r));
	if (merge && (r = comp_collect_merge(scan, ans, why)) < 0)
		return errf(r, ret_err, "merging the collector's answer: %s",
		    bw_strerror(r));
	*ret = TAKE_PTR(scan);
	return 0;
}

/* Runs a scan and submits its record. REQ NULL: a scheduled scan. */
static int
run_scan(struct compliance_api *ca, int which, struct evhttp_request *req,
    const struct authz_identity *id, char **ret_err)
{
	struct comp_facts	 facts;
	struct comp_policy	 pol;
	_cleanup_(comp_scan_freep) struct comp_scan *scan = NULL;
	_cleanup_json_ json_t	*ar = NULL, *poam = NULL, *doc = NULL;
	/* The POA&M imports the SSP a bundle carries beside it. */
	struct comp_oscal_opts	 oo = { .system_name = "Bulwark appliance",
		.import_ssp = COMP_SSP_JSON_NAME };
	struct scan_op		*op;
	struct timespec		 now;
	char			 capath[PATH_MAX + 32], certpath[PATH_MAX + 32];
	char			 ts[40];
	int			 automated = 0, r;
	size_t			 waived = 0;
	json_t			*summary;

	if ((r = load_data(ca, which, ret_err)) < 0)
		return r;
	gather_facts(ca, &facts, capath, certpath, sizeof(capath));
	scan_policy(ca, &pol);
	if ((r = scan_host(ca, ca->base[which], &facts, &pol, &scan,
	    ret_err)) < 0)
		return r;
	if ((r = comp_oscal_assessment_results(scan, ca->cat, ca->base[which],
	    &oo, &ar, ret_err)) < 0)
		return r;
	r = comp_oscal_poam(scan, ca->cat, ca->base[which], &oo, &poam, NULL);
	if (r < 0 && r != -BW_E_NOTFOUND)
		return errf(r, ret_err, "POA&M: %s", bw_strerror(r));
	if ((r = apply_waivers(ca, ar, poam, &waived)) < 0)
		return errf(r, ret_err, "waivers: %s", bw_strerror(r));
	summary = summarise(ca, which, scan, &automated);
	clock_gettime(CLOCK_REALTIME, &now);
	bw_time_rfc3339_at(ts, sizeof(ts), now.tv_sec);
	doc = json_pack("{s:s, s:s, s:I, s:i, s:o, s:o, s:O, s:O?}", "time", ts,
	    "baseline", baseline_names[which], "checks", (json_int_t)scan->n,
	    "automated_controls", automated, "summary", summary, "results",
	    results_json(scan), "assessment_results", ar, "poam", poam);
	if (!doc || json_object_set_new(doc, "waived_findings",
	    json_integer((json_int_t)waived)) < 0 ||
	    !(op = calloc(1, sizeof(*op))))
		return -ENOMEM;
	op->mark = ca->audit_facts.mark;
	op->mark_valid = facts.audit_chain_intact == COMP_YES &&
	    op->mark.seq > 0;
	if (op->mark_valid)
		json_object_set_new(doc, "audit_verified", json_pack(
		    "{s:I, s:s, s:I, s:s}", "seq", (json_int_t)op->mark.seq,
		    "segment", op->mark.segment, "offset",
		    (json_int_t)op->mark.offset, "hash", op->mark.hash));
	op->ca = ca;
	op->which = which;
	op->req = req;
	if (id)
		op->id = *id;
	else {
		snprintf(op->id.principal, sizeof(op->id.principal), "compliance");
		snprintf(op->id.role_name, sizeof(op->id.role_name), "system");
		snprintf(op->id.tenant, sizeof(op->id.tenant), "system");
		snprintf(op->id.source, sizeof(op->id.source), "local");
		op->id.auth_method = "internal";
	}
	snprintf(op->key, sizeof(op->key), COMPLIANCE_KEY_PREFIX "%020lld%09ld",
	    (long long)now.tv_sec, now.tv_nsec);
	{
		json_t *t = json_object_get(summary, "total");

		snprintf(op->reason, sizeof(op->reason),
		    "%s baseline: %d controls automated; satisfied %lld, "
		    "not-satisfied %lld, not-applicable %lld, manual %lld",
		    baseline_names[which], automated,
		    (long long)json_integer_value(json_object_get(t, "satisfied")),
		    (long long)json_integer_value(json_object_get(t, "not-satisfied")),
		    (long long)json_integer_value(json_object_get(t, "not-applicable")),
		    (long long)json_integer_value(json_object_get(t, "manual")));
		if (op->mark_valid)
			snprintf(op->reason + strlen(op->reason),
			    sizeof(op->reason) - strlen(op->reason), "; audit "
			    "chain verified through seq %" PRIu64 " (hash %s)",
			    op->mark.seq, op->mark.hash);
	}
	op->value = json_dumps(doc, JSON_COMPACT);
	op->reply = json_pack("{s:s, s:s, s:I, s:i, s:O, s:O}", "time", ts,
	    "baseline", baseline_names[which], "checks", (json_int_t)scan->n,
	    "automated_controls", automated, "summary", summary, "results",
	    json_object_get(doc, "results"));
	if (!op->value || !op->reply) {
		free(op->value);
		json_decref(op->reply);
		free(op);
		return -ENOMEM;
	}
	op->creq.op = (struct store_op){ .type = STORE_OP_PUT, .key = op->key,
	    .value = op->value, .value_len = strlen(op->value),
	    .expect_rev = STORE_REV_ABSENT };
	op->creq.rec = (struct audit_record){ .actor = op->id.principal,
	    .role = op->id.role_name, .tenant = op->id.tenant,
	    .source = op->id.source, .auth_method = op->id.auth_method,
	    .action = "compliance.scan", .object_kind = "ControlResult",
	    .object_tenant = "system", .object_name = baseline_names[which],
	    .reason = op->reason, .controls = "CA-2,CA-7,RA-5,SI-6" };
	op->creq.done = scan_done;
	ca->scans++;
	commit_submit(api_committer(ca->srv), &op->creq);
	return 0;
}

static void
handle_results(struct compliance_api *ca, struct evhttp_request *req,
    const struct authz_identity *id)
{
	struct evkeyvalq	 q;
	const char		*fmt, *query;
	struct store_kv		**kvs = NULL;
	size_t			 n = 0;
	uint64_t		 rev;
	_cleanup_json_ json_t	*doc = NULL;
	json_t			*out;
	int			 r;

	TAILQ_INIT(&q);
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		api_reply_error(ca->srv, req, 400, "invalid", "query: malformed");
		return;
	}
	fmt = evhttp_find_header(&q, "format");
	if (!fmt)
		fmt = "summary";
	if (strcmp(fmt, "summary") && strcmp(fmt, "oscal") &&
	    strcmp(fmt, "oscal-poam")) {
		evhttp_clear_headers(&q);
		api_audit(ca->srv, id, "compliance.results", NULL, NULL, NULL,
		    "failure", "bad format");
		api_reply_error(ca->srv, req, 400, "invalid",
		    "format: must be summary, oscal or oscal-poam");
		return;
	}
	r = store_list(api_store(ca->srv), COMPLIANCE_KEY_PREFIX, &kvs, &n, &rev);
	if (r < 0 || n == 0) {
		evhttp_clear_headers(&q);
		store_kv_array_free(kvs, n);
		api_audit(ca->srv, id, "compliance.results", NULL, NULL, NULL,
		    "failure", "no scan yet");
		api_reply_error(ca->srv, req, 404, "not_found",
		    "no compliance scan has run yet: bulwark compliance scan");
		return;
	}
	doc = json_loadb(kvs[n - 1]->value, kvs[n - 1]->value_len, 0, NULL);
	store_kv_array_free(kvs, n);
	if (strcmp(fmt, "oscal") == 0)
		out = json_object_get(doc, "assessment_results");
	else if (strcmp(fmt, "oscal-poam") == 0)
		out = json_object_get(doc, "poam");
	else
		out = doc;
	api_audit(ca->srv, id, "compliance.results", NULL, NULL, NULL,
	    out ? "success" : "failure", out ? fmt : "no POA&M: nothing failed");
	if (!out)
		api_reply_error(ca->srv, req, 404, "not_found",
		    "the latest scan has no failing check, so no POA&M");
	else
		api_reply_json(ca->srv, req, 200, out);
	evhttp_clear_headers(&q);
}

static int
parse_time(const char *s, time_t *ret)
{
	return s ? bw_time_parse(s, ret) : 0;
}

/* The latest recorded scan of baseline WHICH (caller owns), or NULL. */
static json_t *
scan_latest(struct compliance_api *ca, int which)
{
	struct store_kv	*kv = NULL;
	json_t		*doc;

	scan_latest_keys(ca);
	if (!ca->latest_key[which][0] ||
	    store_get(api_store(ca->srv), ca->latest_key[which], &kv) < 0)
		return NULL;
	doc = json_loadb(kv->value, kv->value_len, 0, NULL);
	store_kv_free(kv);
	return doc;
}

/* Writes the bundle EO describes and sends it; *ret_size gets its size.
 * It is made in the data directory (not /tmp: it holds audit records)
 * and unlinked as soon as it is open. Nothing is sent on failure. */
static int
send_bundle(struct compliance_api *ca, struct evhttp_request *req,
    const struct evidence_opts *eo, const char *what, off_t *ret_size,
    char **ret_err)
{
	char		 tmp[PATH_MAX + 64];
	struct evbuffer	*buf = NULL;
	struct stat	 st;
	int		 fd, r;

	snprintf(tmp, sizeof(tmp), "%s/%s-%d-%lld.tar", ca->appliance_dir, what,
	    (int)getpid(), (long long)time(NULL));
	if ((r = evidence_export(eo, tmp, ret_err)) < 0) {
		unlink(tmp);
		return r;
	}
	fd = open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	unlink(tmp);
	if (fd < 0 || fstat(fd, &st) < 0 || !(buf = evbuffer_new()) ||
	    evbuffer_add_file(buf, fd, 0, st.st_size) < 0) {
		if (fd >= 0 && !buf)
			close(fd);
		evbuffer_free(buf);
		return errf(-EIO, ret_err, "cannot read the %s back", what);
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/x-tar");
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
	*ret_size = st.st_size;
	return 0;
}

/* Whether query parameter NAME is set to "1" or "true". */
static bool
query_flag(struct evkeyvalq *q, const char *name)
{
	const char *v = evhttp_find_header(q, name);

	return v && (!strcmp(v, "1") || !strcmp(v, "true"));
}

/* Refuses anyone but the security-auditor, or an appliance without its
 * signing key, and parses REQ's query into Q (clear it with
 * evhttp_clear_headers() whatever this returns). */
static int
export_query(struct compliance_api *ca, struct evhttp_request *req,
    const struct authz_identity *id, struct evkeyvalq *q, char **ret_err)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(
	    req));

	TAILQ_INIT(q);
	if (id->role != ROLE_SECURITY_AUDITOR)
		return errf(-BW_E_DENIED, ret_err, "only the security-auditor "
		    "exports evidence");
	if (!ca->signer)
		return errf(-BW_E_UNAVAILABLE, ret_err, "no appliance signing key");
	if (query && evhttp_parse_query_str(query, q) < 0)
		return errf(-BW_E_INVALID, ret_err, "query: malformed");
	return 0;
}

/* The assessment results EO carries: the latest recorded Moderate scan
 * (the one its compliance.scan audit record attests), or a new scan
 * into *ret_scan when none is recorded. *ret_last keeps the record. */
static int
evidence_results(struct compliance_api *ca, struct evidence_opts *eo,
    json_t **ret_last, struct comp_scan **ret_scan, char **ret_err)
{
	struct comp_facts	 facts;
	struct comp_policy	 pol;
	char			 capath[PATH_MAX + 32], certpath[PATH_MAX + 32];
	json_t			*last;
	int			 r;

	if ((r = load_data(ca, 1, ret_err)) < 0)
		return r;
	eo->cat = ca->cat;
	eo->base = ca->base[1];
	if ((last = scan_latest(ca, 1))) {
		*ret_last = last;
		eo->assessment_results = json_object_get(last,
		    "assessment_results");
		if (json_is_object(json_object_get(last, "poam")))
			eo->poam = json_object_get(last, "poam");
		if (eo->assessment_results)
			return 0;
	}
	gather_facts(ca, &facts, capath, certpath, sizeof(capath));
	scan_policy(ca, &pol);
	if ((r = scan_host(ca, ca->base[1], &facts, &pol, ret_scan,
	    ret_err)) < 0)
		return r;
	eo->scan = *ret_scan;
	return 0;
}

/* The component definition make ssp installs next to the SSP, in BUF;
 * NULL when it is not there (the bundle then says it is absent). */
static const char *
cd_path(const struct compliance_api *ca, char *buf, size_t len)
{
	const char *slash = strrchr(ca->ssp_path, '/');

	snprintf(buf, len, "%.*s%s", slash ? (int)(slash - ca->ssp_path + 1) : 0,
	    ca->ssp_path, COMP_CD_JSON_NAME);
	return access(buf, R_OK) == 0 ? buf : NULL;
}

#define EXPORT_CAPATH_MAX	(PATH_MAX + 32)
#define EXPORT_CDPATH_MAX	(PATH_MAX + 64)

/* What every export takes from the engine: the SSP and component
 * definition, the trail, the CA, the signer, the cadence and the TPM.
 * CAPATH (EXPORT_CAPATH_MAX bytes) and CDPATH (EXPORT_CDPATH_MAX) hold
 * paths EO points into. */
static void
export_opts_fill(struct compliance_api *ca, struct evidence_opts *eo,
    char *capath, char *cdpath)
{
	snprintf(capath, EXPORT_CAPATH_MAX, "%s/pki/ca.crt", ca->appliance_dir);
	eo->ssp_path = ca->ssp_path;
	eo->cd_path = cd_path(ca, cdpath, EXPORT_CDPATH_MAX);
	eo->audit_dir = ca->audit_dir;
	eo->ca_path = capath;
	eo->signer = ca->signer;
	eo->max_age_s = ca->cadence_s;
	eo->tpm = ca->tpm;
}

/* Builds a signed evidence bundle for the period and sends it. */
static void
handle_evidence(struct compliance_api *ca, struct evhttp_request *req,
    const struct authz_identity *id)
{
	struct evidence_opts	 eo = { .system_name = "Bulwark appliance" };
	struct evkeyvalq	 q;
	_cleanup_(comp_scan_freep) struct comp_scan *scan = NULL;
	_cleanup_json_ json_t	*last = NULL;
	_cleanup_free_ char	*err = NULL;
	char			 capath[EXPORT_CAPATH_MAX], reason[160];
	char			 cdpath[EXPORT_CDPATH_MAX];
	off_t			 size = 0;
	int			 r;

	if ((r = export_query(ca, req, id, &q, &err)) < 0)
		goto fail;
	if (parse_time(evhttp_find_header(&q, "since"), &eo.since) < 0 ||
	    parse_time(evhttp_find_header(&q, "until"), &eo.until) < 0) {
		r = errf(-BW_E_INVALID, &err, "since, until: must be RFC 3339 UTC "
		    "times like 2026-11-26T00:00:00Z or dates like 2026-11-26");
		goto fail;
	}
	if ((r = evidence_results(ca, &eo, &last, &scan, &err)) < 0)
		goto fail;
	export_opts_fill(ca, &eo, capath, cdpath);
	eo.refuse_stale = query_flag(&q, "refuse_stale");
	if ((r = send_bundle(ca, req, &eo, "evidence", &size, &err)) < 0)
		goto fail;
	snprintf(reason, sizeof(reason), "bundle of %lld bytes, since %lld, "
	    "until %lld, %s", (long long)size, (long long)eo.since,
	    (long long)eo.until, last ? "recorded scan" : "new scan");
	api_audit(ca->srv, id, "evidence.export", "EvidenceBundle", "system", NULL,
	    "success", reason);
	evhttp_clear_headers(&q);
	return;
fail:
	evhttp_clear_headers(&q);
	api_audit(ca->srv, id, "evidence.export", "EvidenceBundle", "system", NULL,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	api_reply_err(ca->srv, req, r, err);
}

/* ---- the monthly continuous-monitoring package ---- */

/* The stored objects of KIND as a new JSON array; unreadable ones are
 * skipped. */
static json_t *
objects_json(struct compliance_api *ca, const char *kind)
{
	struct store_kv	**kv = NULL;
	size_t		  n = 0, i;
	json_t		 *out = json_array();

	if (out && facts_list(ca, kind, &kv, &n) == 0)
		for (i = 0; i < n; i++) {
			json_t *d = json_loadb(kv[i]->value, kv[i]->value_len, 0,
			    NULL);

			if (d && json_array_append_new(out, d) < 0) {
				json_decref(out);
				out = NULL;
				break;
			}
		}
	store_kv_array_free(kv, n);
	return out;
}

/* The month's scans: SCANS (in time order) and the last scan of each
 * baseline before the month (PRIOR, an object by baseline). */
struct conmon_scans {
	json_t	*scans, *prior;
};

static int
conmon_scans_load(struct compliance_api *ca, time_t since, time_t until,
    struct conmon_scans *ret)
{
	struct store_kv	**kvs = NULL;
	size_t		  n = 0, i;
	int		  r;

	if (!(ret->scans = json_array()) || !(ret->prior = json_object()))
		return -ENOMEM;
	if ((r = scan_records(ca, &kvs, &n)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		time_t t = scan_key_time(kvs[i]->key);
		json_t *d;
		const char *bl;

		if (t == (time_t)-1 || t > until)
			continue;
		if (!(d = json_loadb(kvs[i]->value, kvs[i]->value_len, 0, NULL)))
			continue;
		bl = json_string_value(json_object_get(d, "baseline"));
		r = t >= since ? json_array_append_new(ret->scans, d) :
		    bl ? json_object_set_new(ret->prior, bl, d) :
		    (json_decref(d), 0);
		if (r < 0) {
			store_kv_array_free(kvs, n);
			return -ENOMEM;
		}
	}
	store_kv_array_free(kvs, n);
	return 0;
}

struct conmon_count {
	uint64_t	records, scans, first_seq, last_seq;
};

static int
conmon_count_cb(const struct audit_record *rec, const char *line, size_t len,
    void *userdata)
{
	struct conmon_count *c = userdata;

	(void)line;
	(void)len;
	if (!c->records++)
		c->first_seq = rec->seq;
	c->last_seq = rec->seq;
	c->scans += rec->action && !strcmp(rec->action, "compliance.scan");
	return 0;
}

/* The appliance's verification of its whole trail now (with every
 * checkpoint key it trusts; a verifier error is recorded, not left
 * out), and the month's records. The package's audit/
 * segments let an assessor check the month's part independently. */
static json_t *
conmon_attestation(struct compliance_api *ca, const char *month, time_t since,
    time_t until)
{
	struct audit_search_filter	 flt = { 0 };
	struct audit_verify_report	 rep = { 0 };
	struct conmon_count		 c = { 0 };
	_cleanup_free_ char		*err = NULL;
	char				 a[32], b[32];
	json_t				*out;
	int				 r;

	flt.since.tv_sec = since;
	flt.until.tv_sec = until;
	flt.until.tv_nsec = 999999999;
	r = audit_search_dir(ca->audit_dir, &flt, conmon_count_cb, &c, &err);
	bw_time_rfc3339_at(a, sizeof(a), since);
	bw_time_rfc3339_at(b, sizeof(b), until);
	out = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:I, s:I, s:I, s:I}}",
	    "format", "bulwark-conmon-audit-attestation", "month", month,
	    "period", "since", a, "until", b, "month-records", "records",
	    (json_int_t)c.records, "compliance-scans", (json_int_t)c.scans,
	    "first-seq", (json_int_t)c.first_seq, "last-seq",
	    (json_int_t)c.last_seq);
	if (out && r != 0)
		json_object_set_new(out, "search-error", json_string(err ? err :
		    bw_strerror(r)));
	if (!out)
		return NULL;
	/* Every key the trail held at start, so checkpoints signed before a
	 * key change verify (each with the key it names). */
	r = ca->n_trail_keys ? audit_verify_dir_keys(ca->audit_dir,
	    ca->trail_keys, ca->n_trail_keys, &rep) :
	    audit_verify_dir(ca->audit_dir, ca->signer->pubkey, &rep);
	json_object_set_new(out, "trail-verified-at-export",
	    conmon_trail_verified(r, &rep));
	audit_verify_report_done(&rep);
	return out;
}

/* The package's results and POA&M are those of the month's last scan of
 * this baseline, the one its plan (the SSP's) is built from: a later
 * scan of another baseline would pair its results with this plan. */
#define CONMON_RESULTS_BASELINE	1	/* moderate */

/* The last scan of baseline WHICH in SCANS (time order), or NULL. */
static json_t *
conmon_last_scan(json_t *scans, int which)
{
	size_t i;

	for (i = json_array_size(scans); i > 0; i--) {
		json_t *d = json_array_get(scans, i - 1);

		if (baseline_index(json_string_value(json_object_get(d,
		    "baseline")) ?: "") == which)
			return d;
	}
	return NULL;
}

/* The package's own documents as bundle files; TEXTS keeps their bytes.
 * The scan summary names the scan LAST the package's results are. */
static int
conmon_files(struct compliance_api *ca, const char *month, time_t since,
    time_t until, const struct conmon_scans *cs, json_t *last,
    char *texts[4], struct evidence_file files[4], char **ret_err)
{
	static const char *const names[4] = { CONMON_SUMMARY, CONMON_CHANGES,
		CONMON_INVENTORY, CONMON_ATTESTATION };
	_cleanup_json_ json_t *nodes = objects_json(ca, "Node");
	_cleanup_json_ json_t *images = objects_json(ca, "Image");
	_cleanup_json_ json_t *principals = objects_json(ca, "Principal");
	json_t		*docs[4] = { NULL };
	json_t		**scans, **prior, *v;
	const char	*k;
	size_t		 n = json_array_size(cs->scans), np = 0, i;
	int		 r = -ENOMEM;

	scans = calloc(n + 1, sizeof(*scans));
	prior = calloc(json_object_size(cs->prior) + 1, sizeof(*prior));
	if (!scans || !prior || !nodes || !images || !principals)
		goto out;
	json_array_foreach(cs->scans, i, v)
		scans[i] = v;
	json_object_foreach(cs->prior, k, v)
		prior[np++] = v;
	if ((r = conmon_scan_summary(month, scans, n, &docs[0])) < 0 ||
	    (r = conmon_poam_changes(month, scans, n, prior, np, &docs[1])) < 0 ||
	    (r = conmon_inventory(nodes, images, principals, time(NULL),
	    &docs[2])) < 0)
		goto out;
	r = -ENOMEM;
	if (json_object_set_new(docs[0], "package-results", json_pack("{s:s, "
	    "s:O?}", "baseline", baseline_names[CONMON_RESULTS_BASELINE],
	    "time", json_object_get(last, "time"))) < 0 ||
	    !(docs[3] = conmon_attestation(ca, month, since, until)))
		goto out;
	for (i = 0; i < 4; i++) {
		if (!(texts[i] = json_dumps(docs[i], JSON_INDENT(1) |
		    JSON_PRESERVE_ORDER)))
			goto out;
		files[i] = (struct evidence_file){ names[i], "conmon", texts[i],
		    strlen(texts[i]) };
	}
	r = 0;
out:
	for (i = 0; i < 4; i++)
		json_decref(docs[i]);
	free(scans);
	free(prior);
	return r < 0 ? errf(r, ret_err, "building the package: %s",
	    bw_strerror(r)) : 0;
}

/* The monthly continuous-monitoring package for ?month=YYYY-MM: the
 * month's scan summary, POA&M changes, inventory and audit attestation
 * beside the latest scan's results and POA&M, the SSP and the month's
 * audit segments, signed like an evidence bundle. */
static void
handle_conmon(struct compliance_api *ca, struct evhttp_request *req,
    const struct authz_identity *id)
{
	struct evidence_opts	 eo = { .system_name = "Bulwark appliance",
				     .package = CONMON_PACKAGE };
	struct conmon_scans	 cs = { NULL, NULL };
	struct evidence_file	 files[4];
	struct evkeyvalq	 q;
	_cleanup_free_ char	*err = NULL;
	char			*texts[4] = { NULL }, capath[EXPORT_CAPATH_MAX];
	char			 reason[160], cdpath[EXPORT_CDPATH_MAX];
	const char		*month = NULL;
	json_t			*last;
	off_t			 size = 0;
	int			 r;

	if ((r = export_query(ca, req, id, &q, &err)) < 0 ||
	    (r = conmon_month_parse(month = evhttp_find_header(&q, "month"),
	    &eo.since, &eo.until, &err)) < 0)
		goto out;
	if ((r = load_data(ca, 1, &err)) < 0 ||
	    (r = conmon_scans_load(ca, eo.since, eo.until, &cs)) < 0)
		goto out;
	if (!json_array_size(cs.scans)) {
		r = errf(-BW_E_NOTFOUND, &err, "no compliance scan was recorded "
		    "in %s: the package reports the month's scans", month);
		goto out;
	}
	if (!(last = conmon_last_scan(cs.scans, CONMON_RESULTS_BASELINE))) {
		r = errf(-BW_E_NOTFOUND, &err, "no %s compliance scan was "
		    "recorded in %s: the package's results and POA&M are the "
		    "month's last one", baseline_names[CONMON_RESULTS_BASELINE],
		    month);
		goto out;
	}
	if ((r = conmon_files(ca, month, eo.since, eo.until, &cs, last, texts,
	    files, &err)) < 0)
		goto out;
	export_opts_fill(ca, &eo, capath, cdpath);
	eo.assessment_results = json_object_get(last, "assessment_results");
	if (json_is_object(json_object_get(last, "poam")))
		eo.poam = json_object_get(last, "poam");
	eo.cat = ca->cat;
	eo.base = ca->base[CONMON_RESULTS_BASELINE];
	eo.extra = files;
	eo.n_extra = ELEMENTSOF(files);
	r = send_bundle(ca, req, &eo, "conmon", &size, &err);
out:
	if (r == 0)
		snprintf(reason, sizeof(reason), "package for %s of %lld bytes, "
		    "%zu scans", month, (long long)size, json_array_size(cs.scans));
	api_audit(ca->srv, id, "evidence.conmon", "ConMonPackage", "system", NULL,
	    r == 0 ? "success" : r == -BW_E_DENIED ? "denied" : "failure",
	    r == 0 ? reason : err ? err : bw_strerror(r));
	if (r < 0)
		api_reply_err(ca->srv, req, r, err);
	evhttp_clear_headers(&q);
	for (size_t i = 0; i < ELEMENTSOF(texts); i++)
		free(texts[i]);
	json_decref(cs.scans);
	json_decref(cs.prior);
}

void
compliance_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg)
{
	struct compliance_api	*ca = arg;
	enum evhttp_cmd_type	 m = evhttp_request_get_command(req);
	_cleanup_json_ json_t	*body = NULL;
	_cleanup_free_ char	*err = NULL;
	const char		*bl = "moderate";
	int			 which, r;

	if (id->role != ROLE_SYSTEM_ADMIN && id->role != ROLE_SECURITY_AUDITOR &&
	    strcmp(path, "/v1/compliance/evidence") != 0 &&
	    strcmp(path, "/v1/compliance/conmon") != 0) {
		api_audit(srv, id, "compliance.request", NULL, NULL, NULL, "denied",
		    "role may not run or read compliance scans");
		api_reply_error(srv, req, 403, "forbidden",
		    "only system-admin and security-auditor use the compliance engine");
		return;
	}
	if (strcmp(path, "/v1/compliance/results") == 0 ||
	    strncmp(path, "/v1/compliance/results?", 23) == 0) {
		if (m != EVHTTP_REQ_GET)
			goto bad_method;
		handle_results(ca, req, id);
		return;
	}
	if (strcmp(path, "/v1/compliance/evidence") == 0) {
		if (m != EVHTTP_REQ_GET)
			goto bad_method;
		handle_evidence(ca, req, id);
		return;
	}
	if (strcmp(path, "/v1/compliance/conmon") == 0) {
		if (m != EVHTTP_REQ_GET)
			goto bad_method;
		handle_conmon(ca, req, id);
		return;
	}
	if (strcmp(path, "/v1/compliance/scans") != 0) {
		api_audit(srv, id, "api.request", NULL, NULL, NULL, "failure",
		    "no such path");
		api_reply_error(srv, req, 404, "not_found", "no such path");
		return;
	}
	if (m != EVHTTP_REQ_POST)
		goto bad_method;
	if ((r = api_read_json_body(req, &body, &err)) < 0 ||
	    json_unpack_ex(body, NULL, JSON_STRICT, "{s?s}", "baseline", &bl) < 0 ||
	    (which = baseline_index(bl)) < 0) {
		api_audit(srv, id, "compliance.scan", NULL, NULL, NULL, "failure",
		    err ? err : "bad baseline");
		api_reply_error(srv, req, 400, "invalid", err ? err :
		    "body: must be {\"baseline\": \"low\"|\"moderate\"|\"high\"}");
		return;
	}
	if ((r = run_scan(ca, which, req, id, &err)) < 0) {
		api_audit(srv, id, "compliance.scan", NULL, NULL, NULL, "failure",
		    err ? err : bw_strerror(r));
		api_reply_err(srv, req, r, err);
	}
	return;
bad_method:
	api_audit(srv, id, "api.request", NULL, NULL, NULL, "failure",
	    "method not allowed");
	api_reply_error(srv, req, 405, "method_not_allowed",
	    "method not allowed on this path");
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct compliance_api	*ca = arg;
	_cleanup_free_ char	*err = NULL;

	if (run_scan(ca, 1, NULL, NULL, &err) < 0)
		log_warn("scheduled compliance scan failed: %s", err ? err : "error");
}

const char *
compliance_ssp_path(void)
{
	const char *e = getenv("BULWARK_COMPLIANCE_SSP");

	if (e && *e)
		return e;
	return BW_DATADIR "/compliance/ssp/bulwark-ssp.json";
}

void
compliance_api_rescan(void *arg)
{
	struct compliance_api	*ca = arg;
	struct timeval		 tv = { 0, 0 };

	if (ca->change_timer)
		event_add(ca->change_timer, &tv);
}

/* After changes, assess again once things settle: one scan per quiet
 * period rather than one per commit. Our own scan records are changes
 * too, so they do not re-arm the timer. */
static void
committed(void *arg)
{
	struct compliance_api	*ca = arg;
	struct timeval		 tv = { COMPLIANCE_CHANGE_DELAY_S, 0 };
	uint64_t		 rev = store_revision(api_store(ca->srv));

	if (rev == ca->scanned_rev || event_pending(ca->change_timer,
	    EV_TIMEOUT, NULL))
		return;
	event_add(ca->change_timer, &tv);
}

/* The trail's keys as it wrote them when bulwarkd opened it (before
 * this runs): the signer's key, then the ones it used before. Without
 * the file (or the signer's key in it) only the signer's key is
 * trusted. */
static void
trail_keys_load(struct compliance_api *ca)
{
	_cleanup_free_ char	*err = NULL;
	char			 path[PATH_MAX + 32];
	size_t			 i;

	if (!ca->signer)
		return;
	snprintf(path, sizeof(path), "%s/checkpoint-key.pem", ca->audit_dir);
	if (audit_pubkeys_load(path, &ca->trail_keys, &ca->n_trail_keys,
	    &err) < 0)
		return;
	for (i = 0; i < ca->n_trail_keys; i++)
		if (EVP_PKEY_eq(ca->trail_keys[i], ca->signer->pubkey) == 1)
			return;
	log_warn("%s: does not hold the checkpoint key; the scan and the "
	    "ConMon attestation trust only that key", path);
	audit_pubkeys_free(ca->trail_keys, ca->n_trail_keys);
	ca->trail_keys = NULL;
	ca->n_trail_keys = 0;
}

int
compliance_api_init(struct compliance_api *ca, struct event_base *base,
    struct api_server *srv, struct audit_trail *trail, const char *data_dir,
    const char *appliance_dir, const char *root, bool fips,
    const struct audit_signer *signer, char **ret_err)
{
	struct timeval tv = { COMPLIANCE_SCAN_INTERVAL_S, 0 };

	memset(ca, 0, sizeof(*ca));
	snprintf(ca->data_dir, sizeof(ca->data_dir), "%s", data_dir);
	snprintf(ca->appliance_dir, sizeof(ca->appliance_dir), "%s", appliance_dir);
	snprintf(ca->audit_dir, sizeof(ca->audit_dir), "%s/audit", appliance_dir);
	snprintf(ca->root, sizeof(ca->root), "%s", root);
	/* Refused, not cut: a shortened path could be another socket. */
	if (snprintf(ca->collect_socket, sizeof(ca->collect_socket), "%s",
	    getenv("BULWARK_COLLECT_SOCKET") ? getenv("BULWARK_COLLECT_SOCKET") :
	    COMP_COLLECT_SOCKET) >= (int)sizeof(ca->collect_socket))
		return errf(-ENAMETOOLONG, ret_err, "BULWARK_COLLECT_SOCKET: "
		    "over %zu bytes", sizeof(ca->collect_socket) - 1);
	ca->srv = srv;
	ca->trail = trail;
	ca->fips = fips;
	ca->signer = signer;
	ca->cadence_s = COMP_CADENCE_DEFAULT_S;
	/* The trail was opened first and wrote its key file: read it now,
	 * before anything could replace it. */
	trail_keys_load(ca);
	snprintf(ca->ssp_path, sizeof(ca->ssp_path), "%s", compliance_ssp_path());
	snprintf(ca->console_conf, sizeof(ca->console_conf), "%s",
	    CONSOLE_CONF_DEFAULT);
	ca->timer = event_new(base, -1, EV_PERSIST, timer_cb, ca);
	ca->change_timer = event_new(base, -1, 0, timer_cb, ca);
	if (!ca->change_timer ||
	    commit_add_observer(api_committer(srv), committed, ca) < 0)
		return errf(-ENOMEM, ret_err, "compliance change observer");
	if (!ca->timer || event_add(ca->timer, &tv) < 0)
		return errf(-ENOMEM, ret_err, "compliance timer");
	return 0;
}

void
compliance_api_detach(struct compliance_api *ca)
{
	if (ca->srv)
		commit_remove_observer(api_committer(ca->srv), committed, ca);
	if (ca->timer)
		event_del(ca->timer);
	if (ca->change_timer)
		event_del(ca->change_timer);
}

void
compliance_api_done(struct compliance_api *ca)
{
	size_t i;

	if (ca->timer)
		event_free(ca->timer);
	ca->timer = NULL;
	if (ca->change_timer)
		event_free(ca->change_timer);
	ca->change_timer = NULL;
	for (i = 0; i < ELEMENTSOF(ca->base); i++)
		comp_baseline_free(ca->base[i]);
	comp_catalog_free(ca->cat);
	memset(ca->base, 0, sizeof(ca->base));
	ca->cat = NULL;
	json_decref(ca->last_families);
	ca->last_families = NULL;
	audit_pubkeys_free(ca->trail_keys, ca->n_trail_keys);
	ca->trail_keys = NULL;
	ca->n_trail_keys = 0;
}

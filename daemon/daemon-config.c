#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/daemon-config.h"
#include "audit/trail.h"
#include "controlplane/api.h"
#include "controlplane/commit.h"
#include "controlplane/controller.h"
#include "controlplane/enrol.h"
#include "controlplane/principals.h"
#include "controlplane/resource.h"
#include "controlplane/schema.h"
#include "controlplane/store.h"
#include "controlplane/store-etcd.h"
#include "daemon/cert-renew.h"
#include "daemon/compliance-api.h"
#include "daemon/identity.h"
#include "daemon/privsep-parent.h"
#include "privsep/spawner.h"
#include "daemon/image-api.h"
#include "daemon/store-api.h"
#include "daemon/update-journal.h"
#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/hist.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"

void
bwd_config_defaults(struct bwd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->data_dir = BWD_DEFAULT_DATA_DIR;
	cfg->listen = BWD_DEFAULT_LISTEN;
	cfg->log_level = LOG_LVL_INFO;
	cfg->default_quota = (struct quota_limits)QUOTA_DEFAULT_LIMITS;
	/* The split by default (docs/hardening.md, "Processes");
	 * --no-privsep for comparison and diagnosis. */
	cfg->privsep = 1;
}

int
bwd_parse_log_level(const char *s, enum log_level *ret)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	size_t i;

	for (i = 0; i < ELEMENTSOF(names); i++)
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	return -BW_E_INVALID;
}

static int
path_join(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* Writes DIR/NAME.conf for the CLI: where the server is and which
 * credential to present. */
static int
write_client_conf(const char *dir, const char *who, const char *url,
    char **ret_err)
{
	char			 ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	char			 path[PATH_MAX], name[64];
	_cleanup_json_ json_t	*o = NULL;
	_cleanup_free_ char	*s = NULL;
	int			 r;

	snprintf(name, sizeof(name), "pki/%s.crt", who);
	if ((r = path_join(cert, sizeof(cert), dir, name)) < 0)
		return r;
	snprintf(name, sizeof(name), "pki/%s.key", who);
	if ((r = path_join(key, sizeof(key), dir, name)) < 0)
		return r;
	if ((r = path_join(ca, sizeof(ca), dir, "pki/ca.crt")) < 0)
		return r;
	snprintf(name, sizeof(name), "%s.conf", who);
	if ((r = path_join(path, sizeof(path), dir, name)) < 0)
		return r;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "server", url, "ca", ca,
	    "cert", cert, "key", key, "principal", who);
	if (!o || !(s = json_dumps(o, JSON_INDENT(2))))
		return -ENOMEM;
	if ((r = write_file_atomic_at(AT_FDCWD, path, s, strlen(s), 0600)) < 0)
		return errf(r, ret_err, "cannot write %s: %s", path, bw_strerror(r));
	return 0;
}

static int
client_url(const char *listen, int port, char *buf, size_t len)
{
	char host[256];

	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		snprintf(host, sizeof(host), "%.*s", (int)(rb - listen + 1), listen);
		if (strcmp(host, "[::]") == 0)
			snprintf(host, sizeof(host), "[::1]");
	} else {
		const char *colon = strrchr(listen, ':');

		snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
		if (strcmp(host, "0.0.0.0") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
	}
	snprintf(buf, len, "https://%s:%d", host, port);
	return 0;
}

static int
write_pid_file(const char *path, char **ret_err)
{
	char	buf[32];
	int	r;

	snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if ((r = write_file_atomic_at(AT_FDCWD, path, buf, strlen(buf), 0644)) < 0)
		return errf(r, ret_err, "cannot write %s: %s", path, bw_strerror(r));
	return 0;
}

struct local_node {
	struct commit_req	 creq;
	char			 key[RES_KEY_MAX];
	char			 name[64];
	char			 kind[32];
	char			 tenant[64];
	char			 action[48];
	char			*value;
};

static void
local_node_done(struct commit_req *creq)
{
	struct local_node *ln = (struct local_node *)creq;

	if (creq->result == 0)
		log_info("first start: %s %s created (revision %llu)", ln->kind,
		    ln->name, (unsigned long long)creq->op.rev);
	else if (creq->result != -BW_E_EXISTS)
		log_error("first start: cannot create %s %s: %s", ln->kind,
		    ln->name, bw_strerror(creq->result));
	free(ln->value);
	free(ln);
}

/* Submits DOC (a stored form) as a first-start object, audited as
 * ACTION by bulwarkd itself. Takes no reference to DOC. */
static int
bootstrap_submit(struct bwd_state *st, const char *kind, json_t *doc,
    const char *action, const char *controls)
{
	struct local_node	*ln;
	const struct res_kind	*k = res_kind_by_name(kind);

	if (!doc || !(ln = calloc(1, sizeof(*ln))))
		return -ENOMEM;
	snprintf(ln->name, sizeof(ln->name), "%s", res_name(doc));
	snprintf(ln->kind, sizeof(ln->kind), "%s", kind);
	snprintf(ln->tenant, sizeof(ln->tenant), "%s", res_tenant(doc));
	snprintf(ln->action, sizeof(ln->action), "%s", action);
	if (res_key(k, res_tenant(doc), ln->name, ln->key, sizeof(ln->key)) < 0 ||
	    !(ln->value = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS))) {
		free(ln);
		return -ENOMEM;
	}
	ln->creq.op = (struct store_op){ .type = STORE_OP_PUT, .key = ln->key,
	    .value = ln->value, .value_len = strlen(ln->value),
	    .expect_rev = STORE_REV_ABSENT };
	ln->creq.rec = (struct audit_record){ .actor = "bulwarkd", .role = "system",
	    .tenant = RES_SYSTEM_TENANT, .source = "local", .auth_method = "none",
	    .action = ln->action, .object_kind = k->kind,
	    .object_tenant = ln->tenant, .object_name = ln->name,
	    .controls = controls };
	ln->creq.done = local_node_done;
	commit_submit(st->commit, &ln->creq);
	return 0;
}

/* All-in-one mode: the machine bulwarkd runs on is the first node. It is
 * registered once, through the commit pipeline like any change, with
 * its real capacity; phase and attestation stay honest ("Registered",
 * "Pending") until an agent reports and attests it. */
static int
register_local_node(struct bwd_state *st)
{
	json_t			*tpm = st->identity ?
	    identity_tpm_json(st->identity) : NULL;
	_cleanup_json_ json_t	*doc = NULL;
	char			 host[256], name[64], created[40];
	long			 ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	long			 pages = sysconf(_SC_PHYS_PAGES);
	long			 psize = sysconf(_SC_PAGESIZE);
	size_t			 i, n = 0;

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "local");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] && host[i] != '.' && n < 63; i++) {
		char c = host[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		name[n++] = c;
	}
	while (n > 0 && name[n - 1] == '-')
		n--;
	name[n] = '\0';
	if (!schema_is_dns_label(name))
		snprintf(name, sizeof(name), "local");
	bw_time_rfc3339(created, sizeof(created), 0);
	doc = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:{s:s}}, s:{s:{s:I, s:I, s:i}, "
	    "s:s}, s:{s:s, s:s}}",
	    "kind", "Node",
	    "metadata", "name", name, "tenant", RES_SYSTEM_TENANT, "uid", name,
	    "created", created, "labels", "bulwark.io/mode", "all-in-one",
	    "spec", "capacity", "cpu_millis", (json_int_t)(ncpu > 0 ? ncpu * 1000 : 1000),
	    "memory_mib", (json_int_t)(pages > 0 && psize > 0 ?
	    (long long)pages * psize / (1024 * 1024) : 1024), "instances", 110,
	    "zone", "local",
	    "status", "phase", "Registered", "attestation", "Pending");
	/* The compliance checks read which TPM roots this appliance. */
	if (doc && tpm)
		json_object_set_new(json_object_get(doc, "status"), "tpm", tpm);
	else
		json_decref(tpm);
	return bootstrap_submit(st, "Node", doc, "node.register", "CM-8,CM-3");
}

/* First start: the bootstrap credentials' roles are granted by
 * RoleBindings like everyone else's, so they can be audited and taken
 * away the same way. */
static int
bind_bootstrap_roles(struct bwd_state *st)
{
	static const struct { const char *who, *role; } b[] = {
		{ "admin", "system-admin" },
		{ "auditor", "security-auditor" },
	};
	size_t	i;
	int	r;

	for (i = 0; i < ELEMENTSOF(b); i++) {
		_cleanup_json_ json_t *doc = principals_binding_doc(
		    RES_SYSTEM_TENANT, b[i].who, b[i].role);

		if ((r = bootstrap_submit(st, "RoleBinding", doc,
		    "rolebinding.create", "AC-2,AC-5,AC-6")) < 0)
			return r;
	}
	log_warn("first start: %s/pki/auditor.key, the first security "
	    "auditor's key, is readable by root on this appliance: the "
	    "auditor should collect it now (docs/operations.md)", st->data_dir);
	return 0;
}

static json_t *
health_extra(void *arg)
{
	struct bwd_state *st = arg;

	if (!st->identity)
		return json_pack("{s:o*}", "replica", ha_health_json(st->ha));
	return json_pack("{s:o*, s:o*, s:o*}", "tpm",
	    identity_tpm_status_json(st->identity), "certificates",
	    certrenew_health_json(st->renew), "replica",
	    ha_health_json(st->ha));
}

/* The daemon's series of /metrics beyond the object API's: scheduler,
 * TPM, compliance, the server certificate. */
static void
metrics_extra(struct bw_buf *b, void *arg)
{
	struct bwd_state *st = arg;

	if (st->ctl) {
		hist_render_header(b,
		    "bulwark_scheduler_placement_duration_seconds",
		    "One placement decision of the scheduler.");
		hist_render(b, "bulwark_scheduler_placement_duration_seconds",
		    NULL, controller_placement_hist(st->ctl));
	}
	if (st->identity)
		identity_render_metrics(st->identity, b);
	if (st->comp_open)
		compliance_api_render_metrics(&st->comp, b);
	if (st->renew)
		bw_buf_printf(b, "# HELP bulwark_server_cert_expiry_timestamp_seconds "
		    "When the API server's certificate expires.\n"
		    "# TYPE bulwark_server_cert_expiry_timestamp_seconds gauge\n"
		    "bulwark_server_cert_expiry_timestamp_seconds %lld\n",
		    (long long)certrenew_server_not_after(st->renew));
}

/* The server certificate's renewal timer (daemon/cert-renew.h). */
static int
start_renewal(struct event_base *base, struct bwd_state *st,
    const char *pkidir, unsigned lifetime_secs, char **ret_err)
{
	struct certrenew_options o = {
		.pkidir = pkidir, .names = &st->pki_opts,
		.lifetime_secs = lifetime_secs, .identity = st->identity,
		.api = st->api, .commit = st->commit, .ssl_ctx = &st->ssl_ctx,
	};

	return certrenew_start(base, &o, &st->renew, ret_err);
}

static pid_t
psp_pid_cb(void *arg)
{
	return psp_worker_pid(arg);
}

static json_t *
tpm_lockout_json(void *arg)
{
	return identity_tpm_lockout_json(arg);
}

static int
is_revoked_cb(void *ctx, const char *serial_hex)
{
	return pki_is_revoked(ctx, serial_hex) ? 1 : 0;
}

/* What bwd_open() sets up in one step and a later one uses. Lives for
 * the call only: what outlives it is in ST. */
struct bwd_open_ctx {
	const struct bwd_config		*cfg;
	struct event_base		*base;
	struct bwd_state		*st;
	struct crypto_status		 cs;
	struct pki_init_options		 po;
	struct audit_trail_options	 ao;
	char				 pkidir[PATH_MAX], auditdir[PATH_MAX];
	char				 cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
};

/* Resolves and locks down the data directory, and sets the crypto
 * policy before any key is touched. */
static int
bwd_open_data_dir(struct bwd_open_ctx *c, char **ret_err)
{
	const struct bwd_config	*cfg = c->cfg;
	struct bwd_state	*st = c->st;
	int			 r;

	if (!realpath(cfg->data_dir, st->data_dir)) {
		if ((r = mkdir_p(cfg->data_dir, 0700)) < 0)
			return errf(r, ret_err, "--data-dir %s: %s", cfg->data_dir,
			    bw_strerror(r));
		if (!realpath(cfg->data_dir, st->data_dir))
			return errf(-errno, ret_err, "--data-dir %s: %s",
			    cfg->data_dir, strerror(errno));
	}
	if (chmod(st->data_dir, 0700) < 0)
		return errf(-errno, ret_err, "chmod %s: %s", st->data_dir,
		    strerror(errno));
	if ((r = crypto_policy_init(&c->cs)) < 0)
		return errf(r, ret_err, "crypto policy: %s", bw_strerror(r));
	if (!c->cs.fips_provider_available)
		log_warn("no OpenSSL FIPS provider: using approved algorithms "
		    "from the default provider (%s); this is reported as a "
		    "failing SC-13 control", c->cs.openssl_version);
	if ((r = path_join(c->pkidir, sizeof(c->pkidir), st->data_dir, "pki")) < 0 ||
	    (r = path_join(c->ca, sizeof(c->ca), c->pkidir, "ca.crt")) < 0 ||
	    (r = path_join(c->cert, sizeof(c->cert), c->pkidir, "server.crt")) < 0 ||
	    (r = path_join(c->key, sizeof(c->key), c->pkidir, "server.key")) < 0 ||
	    (r = path_join(c->auditdir, sizeof(c->auditdir), st->data_dir,
	    "audit")) < 0)
		return errf(r, ret_err, "data directory path too long");
	return 0;
}

/* TPM identity first: without the unsealed root secret there is no CA
 * key, and a changed configuration must stop us here. Then the PKI it
 * holds the CA key of. */
static int
bwd_open_trust(struct bwd_open_ctx *c, char **ret_err)
{
	struct bwd_state	*st = c->st;
	struct identity_options	 io = { .data_dir = st->data_dir,
	    .tcti = c->cfg->tpm_tcti, .config_path = c->cfg->config_path,
	    .allow_swtpm = 1 };
	bool			 clear;
	int			 r;

	if ((r = identity_open(&io, &st->identity, ret_err)) < 0)
		return r;
	c->po.server_names = c->cfg->server_names;
	c->po.server_ips = c->cfg->server_ips;
	c->po.ca_custody = identity_ca_custody(st->identity);
	c->po.server_secs = c->cfg->server_cert_lifetime;
	c->po.server_custody = identity_server_key_custody(st->identity);
	clear = access(c->key, F_OK) == 0;
	if ((r = pki_init_dir(c->pkidir, &c->po, ret_err)) < 0)
		return r;
	if (clear)
		log_warn("%s: a clear server.key of an earlier version was "
		    "replaced by a key in the TPM (new server certificate), "
		    "wiped and removed", c->pkidir);
	log_info("server TLS key: in the TPM (%s/%s, wrapped by the TPM's "
	    "storage key); no clear copy exists", st->data_dir,
	    IDENTITY_TLS_KEY_TPM);
	st->pki_opts = c->po;
	return pki_revoked_load(c->pkidir, &st->revoked, ret_err);
}

/* The store --store names, else LMDB in DIR/store. On etcd the audit
 * outbox is the replica's own (store_etcd_set_replica()). */
static int
bwd_open_store(struct bwd_open_ctx *c, const struct store_options *so,
    char **ret_err)
{
	struct bwd_state	*st = c->st;
	_cleanup_free_ char	*err = NULL;
	char			 path[PATH_MAX];
	int			 r;

	if (c->cfg->replica_id)
		snprintf(st->replica_id, sizeof(st->replica_id), "%s",
		    c->cfg->replica_id);
	else if (gethostname(st->replica_id, sizeof(st->replica_id)) < 0)
		snprintf(st->replica_id, sizeof(st->replica_id), "bulwarkd");
	st->replica_id[sizeof(st->replica_id) - 1] = '\0';
	if (c->cfg->store_spec) {
		if ((r = store_open_spec(c->cfg->store_spec, so, &st->store,
		    &err)) < 0)
			return errf(r, ret_err, "--store: %s", err ? err :
			    bw_strerror(r));
		store_set_delete_label(st->store, res_delete_label);
		r = store_etcd_set_replica(st->store, st->replica_id, ret_err);
		return r == -ENOTSUP ? 0 : r;
	}
	if ((r = path_join(path, sizeof(path), st->data_dir, "store")) < 0)
		return errf(r, ret_err, "data directory path too long");
	if ((r = mkdir_p(path, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	if ((r = store_open_lmdb(path, so, &st->store, ret_err)) < 0)
		return r;
	/* a node's watch filters deletes by the node kept here (api.c) */
	store_set_delete_label(st->store, res_delete_label);
	return 0;
}

/* Opens the store and the audit trail, sized and signed as the identity
 * says. */
static int
bwd_open_storage(struct bwd_open_ctx *c, char **ret_err)
{
	struct bwd_state		*st = c->st;
	const struct identity_settings	*is = identity_settings(st->identity);
	struct store_options		 so = { 0 };
	int				 r;

	so.map_size = (size_t)is->store_map_bytes;
	so.history_revisions = is->store_history_revisions;
	so.history_bytes = (size_t)is->store_history_bytes;
	so.high_water_pct = is->store_high_water_pct;
	if ((r = bwd_open_store(c, &so, ret_err)) < 0)
		return r;

	/* Checkpoints are signed in the TPM; the public key is exported as
	 * DIR/pki/audit-checkpoint.pub.pem for bulwark-verify --key. */
	if ((r = mkdir_p(c->auditdir, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", c->auditdir, bw_strerror(r));
	c->ao.dir = c->auditdir;
	c->ao.signer = identity_audit_signer(st->identity);
	c->ao.forward_libaudit = 1;
	c->ao.forward_syslog = 1;
	c->ao.preallocate = 1;
	c->ao.realtime = 1;
	return audit_trail_open(&c->ao, &st->trail, ret_err);
}

/* Starts the commit pipeline and the API server in front of it. */
static int
bwd_open_api(struct bwd_open_ctx *c, char **ret_err)
{
	struct bwd_state		*st = c->st;
	struct api_server_options	 apo = { 0 };
	char				 plain[PATH_MAX];
	int				 r;

	if ((r = certrenew_server_ctx(&st->pki_opts, c->ca, c->cert, c->key,
	    &st->ssl_ctx, ret_err)) < 0)
		return r;
	if ((r = commit_start(c->base, st->store, st->trail, c->auditdir,
	    &st->commit)) < 0)
		return errf(r, ret_err, "commit pipeline: %s", bw_strerror(r));
	apo.listen = c->cfg->listen;
	apo.max_connections = c->cfg->max_connections;
	apo.default_quota = &c->cfg->default_quota;
	apo.ssl_ctx = st->ssl_ctx;
	apo.store = st->store;
	apo.commit = st->commit;
	apo.trail = st->trail;
	apo.audit_dir = c->auditdir;
	apo.is_revoked = is_revoked_cb;
	apo.revoked_ctx = st->revoked;
	snprintf(st->principals.pkidir, sizeof(st->principals.pkidir), "%s",
	    c->pkidir);
	st->principals.revoked = st->revoked;
	st->principals.ca_custody = c->po.ca_custody;
	apo.principals = &st->principals;
	apo.health_extra = health_extra;
	apo.health_arg = st;
	apo.metrics_extra = metrics_extra;
	apo.metrics_arg = st;
	if (c->cfg->privsep &&
	    (r = path_join(plain, sizeof(plain), st->data_dir,
	    "api-plain.sock")) < 0)
		return errf(r, ret_err, "data directory path too long");
	apo.plain_socket = c->cfg->privsep ? plain : NULL;
	if ((r = api_server_start(c->base, &apo, &st->api, ret_err)) < 0)
		return r;
	if (c->cfg->privsep && (r = psp_start(c->base, st->api, st->ssl_ctx,
	    st->commit, st->data_dir, &st->psp, ret_err)) < 0)
		return r;
	return start_renewal(c->base, st, c->pkidir,
	    c->cfg->server_cert_lifetime, ret_err);
}

/* Adds the endpoints of the parts beside the object API: images,
 * compliance, identity and node enrolment. */
static int
bwd_open_endpoints(struct bwd_open_ctx *c, char **ret_err)
{
	static const char *const default_roots[] = { "/media", "/mnt", NULL };
	struct bwd_state		*st = c->st;
	const struct identity_settings	*is;
	struct enrol_options		 eo;
	struct enrol_ops		 ops;
	int				 r;

	if ((r = image_api_init(&st->images, st->data_dir,
	    c->cfg->import_roots[0] ? c->cfg->import_roots : default_roots,
	    ret_err)) < 0)
		return r;
	st->images_open = 1;
	if ((r = api_server_add_handler(st->api, "/v1/image-",
	    image_api_handle, &st->images)) < 0)
		return errf(r, ret_err, "image endpoints: %s", bw_strerror(r));
	if ((r = compliance_api_init(&st->comp, c->base, st->api, st->trail,
	    comp_data_dir(), st->data_dir, "/", c->cs.fips_mode, c->ao.signer,
	    ret_err)) < 0)
		return r;
	st->comp_open = 1;
	if (c->cfg->console_config)
		snprintf(st->comp.console_conf, sizeof(st->comp.console_conf),
		    "%s", c->cfg->console_config);
	is = identity_settings(st->identity);
	st->comp.cadence_s = is->compliance_cadence_s;
	if (st->identity) {
		st->comp.tpm_lockout = tpm_lockout_json;
		st->comp.tpm_lockout_arg = st->identity;
		st->comp.tpm = identity_evidence_tpm(st->identity);
	}
	if (st->psp) {
		st->comp.worker_pid = psp_pid_cb;
		st->comp.worker_arg = st->psp;
		st->comp.spawner_pid = pss_spawner_pid();
	}
	if ((r = waiver_api_init(&st->waivers, c->base, st->api,
	    compliance_api_rescan, &st->comp, ret_err)) < 0)
		return r;
	st->waivers_open = 1;
	/* Before "/v1/compliance/", which would take its paths. */
	if ((r = api_server_add_handler(st->api, WAIVER_PREFIX,
	    waiver_api_handle, &st->waivers)) < 0)
		return errf(r, ret_err, "waiver endpoints: %s", bw_strerror(r));
	if ((r = api_server_add_handler(st->api, "/v1/compliance/",
	    compliance_api_handle, &st->comp)) < 0)
		return errf(r, ret_err, "compliance endpoints: %s", bw_strerror(r));
	logs_api_init(&st->logs, st->api);
	if ((r = api_server_add_handler(st->api, LOGS_PREFIX, logs_api_handle,
	    &st->logs)) < 0)
		return errf(r, ret_err, "log endpoints: %s", bw_strerror(r));
	if ((r = api_server_add_handler(st->api, STORE_API_PREFIX,
	    store_api_handle, st->data_dir)) < 0)
		return errf(r, ret_err, "store endpoints: %s", bw_strerror(r));
	eo = (struct enrol_options){
		.attest_interval_s = is->attest_interval_s,
		.attest_stale_s = is->attest_stale_s,
		.node_cert_s = is->node_cert_s,
		.bootstrap_max_s = is->bootstrap_max_s,
	};
	if ((r = identity_register_api(st->identity, st->api)) < 0)
		return errf(r, ret_err, "identity endpoint: %s", bw_strerror(r));
	if ((r = identity_enrol_ops(st->identity, c->pkidir, st->revoked,
	    &ops, ret_err)) < 0)
		return r;
	return enrol_start(c->base, st->api, &ops, &eo, &st->enrol, ret_err);
}

/* The console's socket (daemon/console-cred.h). Without it the API
 * still serves: the console then falls back to a configured client
 * credential, so a failure here is logged, not fatal. */
static void
open_console_socket(struct bwd_state *st, struct event_base *base,
    const char *url)
{
	struct ccred_options	 o = { .data_dir = st->data_dir,
	    .pkidir = st->principals.pkidir, .server_url = url,
	    .identity = st->identity, .srv = st->api,
	    .console_config = st->comp_open ? st->comp.console_conf : NULL };
	_cleanup_free_ char	*err = NULL;

	if (ccred_open(base, &o, &st->console, &err) < 0)
		log_warn("no console socket: %s", err ? err : "failed");
}

/* Leading: the controllers run and the stale-node scan writes. If the
 * controllers cannot start the replica does not act (the election asks
 * again at its next check), logged once per error. */
static int
bwd_lead(void *arg)
{
	struct bwd_state	*st = arg;
	int			 r;

	st->ctl_opts.may_act_arg = st->ha;
	if (!st->ctl && (r = controller_start(st->base, st->store, st->commit,
	    &st->ctl_opts, &st->ctl)) < 0) {
		if (r != st->lead_error)
			log_error("controllers: %s (not leading)",
			    bw_strerror(r));
		st->lead_error = r;
		return r;
	}
	st->lead_error = 0;
	if (st->enrol)
		enrol_set_active(st->enrol, true);
	return 0;
}

/* Leading on a shared store: other replicas' writes reach the
 * controllers (their commit pipelines are not ours). */
static void
bwd_foreign_changes(void *arg, const char *const *keys, size_t n, bool gap)
{
	struct bwd_state *st = arg;

	if (st->ctl)
		controller_foreign_changes(st->ctl, keys, n, gap);
}

/* Frees the retired controllers whose changes all completed; looks
 * again in a second while some remain. */
static void
bwd_reap(evutil_socket_t fd, short what, void *arg)
{
	struct bwd_state	*st = arg;
	struct timeval		 tv = { 1, 0 };
	size_t			 i = 0;

	(void)fd;
	(void)what;
	while (i < st->n_retired)
		if (controller_idle(st->retired[i])) {
			controller_free(st->retired[i]);
			st->retired[i] = st->retired[--st->n_retired];
		} else
			i++;
	if (st->n_retired > 0 && st->reap_ev)
		evtimer_add(st->reap_ev, &tv);
}

/* Following: nothing acts on its own; what is in flight completes.
 * A detached controller is freed once idle (bwd_reap), else after the
 * committer stops. */
static void
bwd_follow(void *arg)
{
	struct bwd_state	*st = arg;
	struct controller	**r;

	if (st->enrol)
		enrol_set_active(st->enrol, false);
	if (!st->ctl)
		return;
	controller_detach(st->ctl);
	if ((r = realloc(st->retired, (st->n_retired + 1) * sizeof(*r)))) {
		st->retired = r;
		st->retired[st->n_retired++] = st->ctl;
	} else
		log_error("out of memory: a detached controller is leaked");
	st->ctl = NULL;
	if (!st->reap_ev)
		st->reap_ev = evtimer_new(st->base, bwd_reap, st);
	bwd_reap(-1, 0, st);
}

int
bwd_open(const struct bwd_config *cfg, struct event_base *base,
    struct bwd_state *st, char **ret_err)
{
	struct bwd_open_ctx		 c = { .cfg = cfg, .base = base, .st = st };
	struct controller_options	 co = {
		.allow_unattested = cfg->allow_unattested,
	};
	char				 url[300];
	int				 r;

	if ((r = bwd_open_data_dir(&c, ret_err)) < 0 ||
	    (r = bwd_open_trust(&c, ret_err)) < 0 ||
	    (r = bwd_open_storage(&c, ret_err)) < 0 ||
	    (r = bwd_open_api(&c, ret_err)) < 0 ||
	    (r = bwd_open_endpoints(&c, ret_err)) < 0)
		return r;
	/* Only when no node exists yet: a restart never re-registers, and
	 * an admin who deleted the node is not overridden. */
	if (store_revision(st->store) == 0 &&
	    ((r = register_local_node(st)) < 0 ||
	    (r = bind_bootstrap_roles(st)) < 0))
		return errf(r, ret_err, "first start: %s", bw_strerror(r));
	st->ctl_opts = co;
	st->base = base;
	st->ctl_opts.may_act = ha_may_act;
	/* Passive until elected: a replica that never leads must not scan
	 * for stale nodes (on LMDB, ha_start() elects it at once). */
	if (st->enrol)
		enrol_set_active(st->enrol, false);
	if ((r = ha_start(base, st->store, st->commit, st->replica_id,
	    &(struct ha_hooks){ .acquire = bwd_lead, .lose = bwd_follow,
	    .changes = bwd_foreign_changes, .arg = st }, &st->ha, ret_err)) < 0)
		return r;
	if (st->lead_error < 0)	/* led at once (LMDB) but could not */
		return errf(st->lead_error, ret_err, "controllers: %s",
		    bw_strerror(st->lead_error));
	/* The offline updater's steps taken before this start (a trial's
	 * health check, a re-seal, a rollback): in the trail before the
	 * file goes (it waits for their append, a few milliseconds). */
	(void)update_journal_record(st->commit, st->data_dir);
	client_url(cfg->listen, api_server_port(st->api), url, sizeof(url));
	if ((r = write_client_conf(st->data_dir, "admin", url, ret_err)) < 0 ||
	    (r = write_client_conf(st->data_dir, "auditor", url, ret_err)) < 0)
		return r;
	open_console_socket(st, base, url);
	if (cfg->pid_file)
		snprintf(st->pid_path, sizeof(st->pid_path), "%s", cfg->pid_file);
	else if ((r = path_join(st->pid_path, sizeof(st->pid_path),
	    st->data_dir, "bulwarkd.pid")) < 0)
		return errf(r, ret_err, "data directory path too long");
	return write_pid_file(st->pid_path, ret_err);
}

void
bwd_close(struct bwd_state *st)
{
	ccred_close(st->console);
	st->console = NULL;
	certrenew_stop(st->renew);
	st->renew = NULL;
	enrol_stop(st->enrol);
	st->enrol = NULL;
	if (st->waivers_open)
		waiver_api_detach(&st->waivers);
	if (st->comp_open)
		compliance_api_detach(&st->comp);
	ha_stop(st->ha);
	st->ha = NULL;
	controller_detach(st->ctl);
	psp_stop(st->psp);
	st->psp = NULL;
	api_server_detach(st->api);
	/* The committer drains first: its completions answer clients
	 * through the API server, which must still exist. */
	commit_stop(st->commit);
	st->commit = NULL;
	api_server_free(st->api);
	st->api = NULL;
	logs_api_free(&st->logs);
	controller_free(st->ctl);
	st->ctl = NULL;
	if (st->reap_ev)
		event_free(st->reap_ev);
	st->reap_ev = NULL;
	while (st->n_retired > 0)
		controller_free(st->retired[--st->n_retired]);
	free(st->retired);
	st->retired = NULL;
	if (st->images_open)
		image_api_done(&st->images);
	st->images_open = 0;
	if (st->waivers_open)
		waiver_api_done(&st->waivers);
	st->waivers_open = 0;
	if (st->comp_open)
		compliance_api_done(&st->comp);
	st->comp_open = 0;
	audit_trail_close(st->trail);
	st->trail = NULL;
	store_close(st->store);
	st->store = NULL;
	if (st->ssl_ctx)
		SSL_CTX_free(st->ssl_ctx);
	st->ssl_ctx = NULL;
	pki_revoked_free(st->revoked);
	st->revoked = NULL;
	audit_signer_free(st->signer);
	st->signer = NULL;
	/* Last: the trail's final checkpoint was signed with its key. */
	identity_close(st->identity);
	st->identity = NULL;
	if (st->pid_path[0])
		unlink(st->pid_path);
}

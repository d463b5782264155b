#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "daemon/image-api.h"
#include "controlplane/commit.h"
#include "controlplane/resource.h"
#include "controlplane/schema.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/log.h"

#define IMAGE_CONTROLS	"CM-14,SI-7,CM-3"
#define TRUST_PEM_MAX	(16 * 1024)
#define TRUST_KEY_PREFIX "/x/image-trust/"

int
image_api_init(struct image_api *ia, const char *data_dir,
    const char *const *import_roots, char **ret_err)
{
	char	root[PATH_MAX], trust[PATH_MAX];
	size_t	i;
	int	r;

	memset(ia, 0, sizeof(*ia));
	pthread_mutex_init(&ia->import_mu, NULL);
	snprintf(root, sizeof(root), "%s/images", data_dir);
	snprintf(trust, sizeof(trust), "%s/images/trust", data_dir);
	if ((r = mkdir_p(trust, 0700)) < 0)
		return errf(r, ret_err, "%s: %s", trust, bw_strerror(r));
	snprintf(ia->trust_dir, sizeof(ia->trust_dir), "%s", trust);
	for (i = 0; import_roots && import_roots[i] &&
	    ia->n_roots < IMAGE_API_ROOTS_MAX; i++) {
		/* roots that do not exist simply admit nothing */
		if (realpath(import_roots[i], ia->roots[ia->n_roots]))
			ia->n_roots++;
	}
	return image_store_open(root, trust, NULL, &ia->store, ret_err);
}

void
image_api_done(struct image_api *ia)
{
	image_store_free(ia->store);
	ia->store = NULL;
	pthread_mutex_destroy(&ia->import_mu);
}

/* The appliance reads images from local media only: the path must lie
 * under a configured import root once every link is resolved. */
static int
path_admitted(struct image_api *ia, const char *path, char *abs, size_t len,
    char **ret_err)
{
	char	 real[PATH_MAX];
	size_t	 i, n;

	if (path[0] != '/')
		return errf(-BW_E_INVALID, ret_err, "path: must be absolute");
	if (!realpath(path, real))
		return errf(-BW_E_INVALID, ret_err, "path: %s: %s", path,
		    strerror(errno));
	for (i = 0; i < ia->n_roots; i++) {
		n = strlen(ia->roots[i]);
		if (strncmp(real, ia->roots[i], n) == 0 &&
		    (real[n] == '/' || real[n] == '\0' || n == 1)) {
			snprintf(abs, len, "%s", real);
			return 0;
		}
	}
	return errf(-BW_E_DENIED, ret_err,
	    "path: %s is not under an import root (bulwarkd --import-root)",
	    real);
}

struct image_op {
	struct commit_req	 creq;		/* first */
	struct image_api	*ia;
	struct api_server	*srv;
	struct evhttp_request	*req;
	struct authz_identity	 id;
	char			 key[RES_KEY_MAX];
	char			 name[64];
	char			 action[32];
	char			 reason[400];
	char			*value;
	json_t			*reply;
	char			 trust_file[PATH_MAX];
	char			*pem;
};

static void
image_op_free(struct image_op *op)
{
	free(op->value);
	free(op->pem);
	json_decref(op->reply);
	free(op);
}

static void
image_op_done(struct commit_req *creq)
{
	struct image_op *op = (struct image_op *)creq;
	int		 r;

	if (creq->result == -BW_E_AUDIT) {
		api_reply_error(op->srv, op->req, 503, "audit_unavailable",
		    "the audit record could not be made durable; nothing was changed");
	} else if (creq->result < 0) {
		api_reply_err(op->srv, op->req, creq->result, NULL);
	} else if (op->pem) {
		/* the audited store write came first; the file follows it */
		r = write_file_atomic_at(AT_FDCWD, op->trust_file, op->pem,
		    strlen(op->pem), 0644);
		if (r < 0)
			api_reply_err(op->srv, op->req, r, "cannot write the key");
		else
			api_reply_json(op->srv, op->req, 201, op->reply);
	} else
		api_reply_json(op->srv, op->req, 201, op->reply);
	image_op_free(op);
}

static struct image_op *
image_op_new(struct image_api *ia, struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id,
    const char *action)
{
	struct image_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->ia = ia;
	op->srv = srv;
	op->req = req;
	op->id = *id;
	snprintf(op->action, sizeof(op->action), "%s", action);
	op->creq.done = image_op_done;
	return op;
}

static void
image_op_submit(struct image_op *op, const char *kind, const char *controls)
{
	op->creq.op = (struct store_op){ .type = STORE_OP_PUT, .key = op->key,
	    .value = op->value, .value_len = strlen(op->value),
	    .expect_rev = STORE_REV_ANY };
	op->creq.rec = (struct audit_record){ .actor = op->id.principal,
	    .role = op->id.role_name, .tenant = op->id.tenant,
	    .source = op->id.source, .auth_method = op->id.auth_method,
	    .action = op->action, .object_kind = kind,
	    .object_tenant = RES_SYSTEM_TENANT, .object_name = op->name,
	    .reason = op->reason[0] ? op->reason : NULL, .controls = controls };
	commit_submit(api_committer(op->srv), &op->creq);
}

/* An import on an offload worker: hashing, verifying and unpacking a
 * large image takes seconds. The job owns its copies of the request's
 * values; imports hold ia->import_mu, so one runs at a time. */
struct import_job {
	struct image_api	*ia;
	struct api_server	*srv;
	struct evhttp_request	*req;
	struct authz_identity	 id;
	enum image_kind		 kind;
	char			 type[16];
	char			 abs[PATH_MAX];
	char			*digest;
	time_t			 t;
	struct image_info	 info;
	char			*err;
	int			 r;
};

static void
import_job_free(struct import_job *j)
{
	image_info_done(&j->info);
	free(j->digest);
	free(j->err);
	free(j);
}

/* Worker thread. */
static void
import_job_run(void *arg)
{
	struct import_job *j = arg;

	pthread_mutex_lock(&j->ia->import_mu);
	j->r = image_import(j->ia->store, j->kind, j->abs, j->digest, &j->info,
	    &j->err);
	pthread_mutex_unlock(&j->ia->import_mu);
}

/* Loop thread: records the imported image through the commit pipeline,
 * or answers and audits the refusal. */
static void
import_job_done(void *arg, bool cancelled)
{
	struct import_job	*j = arg;
	_cleanup_json_ json_t	*doc = NULL;
	struct image_op		*op = NULL;
	char			 now[40];
	int			 r = j->r;

	if (cancelled)
		r = errf(-BW_E_UNAVAILABLE, &j->err, "the server is shutting down");
	if (r < 0)
		goto fail;
	if (!(op = image_op_new(j->ia, j->srv, j->req, &j->id, "image.import"))) {
		r = -ENOMEM;
		goto fail;
	}
	/* a DNS-label name from the digest: "sha256-" and 56 hex digits */
	snprintf(op->name, sizeof(op->name), "sha256-%.56s", j->info.digest + 7);
	snprintf(op->reason, sizeof(op->reason), "%s from %.120s, signed by %s",
	    j->info.digest, j->abs, j->info.signer);
	bw_time_rfc3339(now, sizeof(now), j->t);
	doc = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:{}}, s:{s:s, s:s, s:s, "
	    "s:I, s:s}, s:{}}", "kind", "Image", "metadata", "name", op->name,
	    "tenant", RES_SYSTEM_TENANT, "uid", j->info.digest, "created", now,
	    "labels", "spec", "digest", j->info.digest, "type", j->type, "format",
	    j->info.format == IMAGE_FMT_TAR ? "rootfs-tar" :
	    j->info.format == IMAGE_FMT_QCOW2 ? "qcow2" : "raw", "size",
	    (json_int_t)j->info.size, "signer", j->info.signer, "status");
	res_key(res_kind_by_name("Image"), NULL, op->name, op->key, sizeof(op->key));
	op->reply = json_incref(doc);
	if (!doc || !(op->value = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS))) {
		r = -ENOMEM;
		goto fail;
	}
	image_op_submit(op, "Image", IMAGE_CONTROLS);
	import_job_free(j);
	return;
fail:
	if (op)
		image_op_free(op);
	/* refusals of unsigned or altered images are evidence (SI-7, CM-14) */
	api_audit(j->srv, &j->id, "image.import", "Image", RES_SYSTEM_TENANT, NULL,
	    r == -BW_E_DENIED ? "denied" : "failure",
	    j->err ? j->err : bw_strerror(r));
	api_reply_err(j->srv, j->req, r, j->err);
	import_job_free(j);
}

static void
handle_import(struct image_api *ia, struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id)
{
	_cleanup_json_ json_t	*body = NULL;
	_cleanup_free_ char	*err = NULL;
	struct import_job	*j = NULL;
	const char		*path = NULL, *type = NULL, *digest = NULL;
	char			 abs[PATH_MAX];
	int			 r;

	if ((r = api_read_json_body(req, &body, &err)) < 0)
		goto fail;
	if (json_unpack_ex(body, NULL, JSON_STRICT, "{s:s, s:s, s?s}", "path",
	    &path, "type", &type, "digest", &digest) < 0 ||
	    (strcmp(type, "container") && strcmp(type, "vm"))) {
		r = errf(-BW_E_INVALID, &err, "body: must be {\"path\": FILE, "
		    "\"type\": \"container\"|\"vm\", \"digest\": optional}");
		goto fail;
	}
	if ((r = path_admitted(ia, path, abs, sizeof(abs), &err)) < 0)
		goto fail;
	if (!(j = calloc(1, sizeof(*j))) ||
	    (digest && !(j->digest = strdup(digest)))) {
		r = -ENOMEM;
		goto fail;
	}
	j->ia = ia;
	j->srv = srv;
	j->req = req;
	j->id = *id;
	j->kind = strcmp(type, "vm") == 0 ? IMAGE_DISK : IMAGE_ROOTFS;
	snprintf(j->type, sizeof(j->type), "%s", type);
	snprintf(j->abs, sizeof(j->abs), "%s", abs);
	j->t = time(NULL);
	if (api_offload_submit(srv, req, id, "image.import", import_job_run,
	    import_job_done, j) < 0)
		import_job_free(j);
	return;
fail:
	if (j)
		import_job_free(j);
	/* refusals of unsigned or altered images are evidence (SI-7, CM-14) */
	api_audit(srv, id, "image.import", "Image", RES_SYSTEM_TENANT, NULL,
	    r == -BW_E_DENIED ? "denied" : "failure", err ? err : bw_strerror(r));
	api_reply_err(srv, req, r, err);
}

static void
handle_trust(struct image_api *ia, struct api_server *srv,
    struct evhttp_request *req, const struct authz_identity *id)
{
	_cleanup_json_ json_t	*body = NULL, *doc = NULL;
	_cleanup_free_ char	*err = NULL;
	struct image_op		*op = NULL;
	const char		*name = NULL, *pem = NULL;
	EVP_PKEY		*key = NULL;
	BIO			*bio = NULL;
	int			 r;

	if ((r = api_read_json_body(req, &body, &err)) < 0)
		goto fail;
	if (json_unpack_ex(body, NULL, JSON_STRICT, "{s:s, s:s}", "name", &name,
	    "pem", &pem) < 0 || !schema_is_dns_label(name) ||
	    strlen(pem) > TRUST_PEM_MAX) {
		r = errf(-BW_E_INVALID, &err, "body: must be {\"name\": DNS-LABEL, "
		    "\"pem\": PUBLIC-KEY-PEM}");
		goto fail;
	}
	bio = BIO_new_mem_buf(pem, (int)strlen(pem));
	key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!key || !EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_bits(key) != 384) {
		EVP_PKEY_free(key);
		r = errf(-BW_E_INVALID, &err,
		    "pem: must be an ECDSA P-384 public key (PEM)");
		goto fail;
	}
	EVP_PKEY_free(key);
	if (!(op = image_op_new(ia, srv, req, id, "image.trust_add"))) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(op->name, sizeof(op->name), "%s", name);
	snprintf(op->key, sizeof(op->key), TRUST_KEY_PREFIX "%s", name);
	if ((size_t)snprintf(op->trust_file, sizeof(op->trust_file), "%.4000s/%.63s.pem",
	    ia->trust_dir, name) >= sizeof(op->trust_file)) {
		r = errf(-ENAMETOOLONG, &err, "trust directory path too long");
		goto fail;
	}
	snprintf(op->reason, sizeof(op->reason), "trusted image signer %s", name);
	op->pem = strdup(pem);
	op->value = strdup(pem);
	op->reply = json_pack("{s:s, s:s}", "name", name, "status", "trusted");
	if (!op->pem || !op->value || !op->reply) {
		r = -ENOMEM;
		goto fail;
	}
	image_op_submit(op, "ImageTrust", "CM-14,SI-7,CM-3,CM-5");
	return;
fail:
	if (op)
		image_op_free(op);
	api_audit(srv, id, "image.trust_add", "ImageTrust", RES_SYSTEM_TENANT,
	    name, r == -BW_E_DENIED ? "denied" : "failure",
	    err ? err : bw_strerror(r));
	api_reply_err(srv, req, r, err);
	(void)doc;
}

void
image_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg)
{
	struct image_api *ia = arg;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		api_audit(srv, id, "api.request", NULL, NULL, NULL, "failure",
		    "method not allowed");
		api_reply_error(srv, req, 405, "method_not_allowed",
		    "use POST");
		return;
	}
	if (id->role != ROLE_SYSTEM_ADMIN) {
		api_audit(srv, id, strcmp(path, "/v1/image-trust") == 0 ?
		    "image.trust_add" : "image.import", "Image", NULL, NULL,
		    "denied", "only system-admin manages images");
		api_reply_error(srv, req, 403, "forbidden",
		    "only system-admin manages images");
		return;
	}
	if (strcmp(path, "/v1/image-import") == 0)
		handle_import(ia, srv, req, id);
	else if (strcmp(path, "/v1/image-trust") == 0)
		handle_trust(ia, srv, req, id);
	else {
		api_audit(srv, id, "api.request", NULL, NULL, NULL, "failure",
		    "no such path");
		api_reply_error(srv, req, 404, "not_found", "no such path");
	}
}

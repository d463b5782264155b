/* bulwark: the command-line client of the appliance; see bulwark(1). */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "cli/cli-args.h"
#include "client/client.h"
#include "cli/identity-cli.h"
#include "cli/logs-cli.h"
#include "cli/store-cli.h"
#include "cli/waiver-cli.h"
#include "image/image.h"
#include "audit/signer.h"
#include "audit/verify.h"
#include "compliance/catalog.h"
#include "compliance/check.h"
#include "controlplane/resource.h"
#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/ossl-cleanup.h"

#define APPLY_MAX	(16 * 1024 * 1024)
/* The server's bounds on one POST /v1/apply (API_APPLY_ITEMS_MAX,
 * API_BODY_MAX, docs/api.md), less room for the envelope. */
#define APPLY_BULK_ITEMS	8192
#define APPLY_BULK_BYTES	(1024 * 1024 - 64)
#define APPLY_BUSY_TRIES	30	/* 1 s apart */

static int report_error_ctx(const struct client_response *resp,
    const char *ctx);

/* Prints the server's error document as one readable line. */
static int
report_error(const struct client_response *resp)
{
	return report_error_ctx(resp, NULL);
}

static int
report_error_ctx(const struct client_response *resp, const char *ctx)
{
	_cleanup_json_ json_t	*o = json_loadb(resp->body, resp->body_len, 0, NULL);
	const char		*code, *msg;

	code = json_str_at(o, "error", "code");
	msg = client_error_message(o, NULL);
	if (code && msg)
		fprintf(stderr, "bulwark: %s%s%s (%d %s)\n", ctx ? ctx : "",
		    ctx ? ": " : "", msg, resp->status, code);
	else
		fprintf(stderr, "bulwark: %s%sserver answered %d\n", ctx ? ctx : "",
		    ctx ? ": " : "", resp->status);
	return cli_exit_for_status(resp->status);
}

static int
resolve_config(const struct cli_opts *o, struct client_conf *conf)
{
	_cleanup_free_ char	*err = NULL;
	const char		*path = o->config;
	int			 r;

	if (o->server)
		conf->server = strdup(o->server);
	if (o->cert)
		conf->cert = strdup(o->cert);
	if (o->key)
		conf->key = strdup(o->key);
	if (o->cacert)
		conf->ca = strdup(o->cacert);
	if (!path)
		path = getenv("BULWARK_CONFIG");
	if (!path && access("var/admin.conf", R_OK) == 0)
		path = "var/admin.conf";
	if (!path && access("/var/lib/bulwark/admin.conf", R_OK) == 0)
		path = "/var/lib/bulwark/admin.conf";
	if (!path)
		return 0;
	if ((r = client_conf_load(path, conf, &err)) < 0) {
		fprintf(stderr, "bulwark: %s\n", err);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

/* Builds the API path for KIND, TENANT and NAME (NULL for collections).
 * Returns 0, or -ENAMETOOLONG when it does not fit in BUF (LEN). */
static int
api_path(const struct res_kind *k, const char *tenant, const char *name,
    char *buf, size_t len)
{
	int n;

	if (k->scope == RES_TENANT && tenant)
		n = snprintf(buf, len, "/v1/tenants/%s/%s%s%s", tenant, k->plural,
		    name ? "/" : "", name ? name : "");
	else
		n = snprintf(buf, len, "/v1/%s%s%s", k->plural, name ? "/" : "",
		    name ? name : "");
	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

static int
request(const struct client_conf *conf, const char *method, const char *path,
    const char *body, struct client_response *resp)
{
	_cleanup_free_ char *err = NULL;

	if (client_request(conf, method, path, body, resp, &err) < 0) {
		fprintf(stderr, "bulwark: %s\n", err ? err : "request failed");
		return CLI_EXIT_UNREACHABLE;
	}
	return 0;
}

/* request(), and a report of the answer unless its status is WANT (CTX
 * as for report_error_ctx()). 0 or the exit code; *RESP holds the answer
 * either way (clear it). */
static int
request_expect(const struct client_conf *conf, const char *method,
    const char *path, const char *body, int want, const char *ctx,
    struct client_response *resp)
{
	int rc;

	if ((rc = request(conf, method, path, body, resp)) != 0)
		return rc;
	return resp->status == want ? 0 : report_error_ctx(resp, ctx);
}

/* Appends "?KEY=VAL" or "&KEY=VAL" (VAL encoded; nothing when VAL is
 * NULL) to the path in BUF (LEN bytes). Returns 0, -ENOMEM, or
 * -ENAMETOOLONG when it does not fit. */
static int
add_param(char *buf, size_t len, const char *key, const char *val)
{
	size_t	 n = strlen(buf);
	char	*enc;
	int	 w;

	if (!val)
		return 0;
	if (!(enc = evhttp_encode_uri(val)))
		return -ENOMEM;
	w = snprintf(buf + n, len - n, "%s%s=%s", strchr(buf, '?') ? "&" : "?",
	    key, enc);
	free(enc);
	return (w < 0 || (size_t)w >= len - n) ? -ENAMETOOLONG : 0;
}

static void
print_json(const char *body, size_t len)
{
	_cleanup_json_ json_t	*o = json_loadb(body, len, 0, NULL);
	_cleanup_free_ char	*s = NULL;

	if (o && (s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER)))
		printf("%s\n", s);
	else
		fwrite(body, 1, len, stdout);
}

static const char *
summary(const struct res_kind *k, json_t *obj, char *buf, size_t len)
{
	json_t *spec = json_object_get(obj, "spec");
	json_t *status = json_object_get(obj, "status");

	buf[0] = '\0';
	if (strcmp(k->kind, "Workload") == 0)
		snprintf(buf, len, "%s replicas=%" JSON_INTEGER_FORMAT " image=%.19s",
		    json_string_value(json_object_get(spec, "type")) ?: "?",
		    json_integer_value(json_object_get(spec, "replicas")),
		    json_string_value(json_object_get(spec, "image")) ?: "?");
	else if (strcmp(k->kind, "Node") == 0)
		snprintf(buf, len, "zone=%s phase=%s attestation=%s",
		    json_string_value(json_object_get(spec, "zone")) ?: "-",
		    json_string_value(json_object_get(status, "phase")) ?: "Unknown",
		    json_string_value(json_object_get(status, "attestation")) ?: "Unknown");
	else if (strcmp(k->kind, "Instance") == 0)
		snprintf(buf, len, "node=%s phase=%s",
		    json_string_value(json_object_get(spec, "node")) ?: "-",
		    json_string_value(json_object_get(status, "phase")) ?: "Pending");
	else if (strcmp(k->kind, "RoleBinding") == 0)
		snprintf(buf, len, "%s -> %s",
		    json_string_value(json_object_get(spec, "principal")) ?: "?",
		    json_string_value(json_object_get(spec, "role")) ?: "?");
	return buf;
}

static void
print_table(const struct res_kind *k, json_t *items)
{
	size_t	 i;
	json_t	*obj;
	char	 sum[256];

	if (k->scope == RES_TENANT)
		printf("%-24s %-16s %-10s %-21s %s\n", "NAME", "TENANT", "REVISION",
		    "CREATED", "SUMMARY");
	else
		printf("%-24s %-10s %-21s %s\n", "NAME", "REVISION", "CREATED",
		    "SUMMARY");
	json_array_foreach(items, i, obj) {
		json_t *md = json_object_get(obj, "metadata");

		if (k->scope == RES_TENANT)
			printf("%-24s %-16s %-10" JSON_INTEGER_FORMAT " %-21s %s\n",
			    json_string_value(json_object_get(md, "name")) ?: "?",
			    json_string_value(json_object_get(md, "tenant")) ?: "?",
			    json_integer_value(json_object_get(md, "revision")),
			    json_string_value(json_object_get(md, "created")) ?: "",
			    summary(k, obj, sum, sizeof(sum)));
		else
			printf("%-24s %-10" JSON_INTEGER_FORMAT " %-21s %s\n",
			    json_string_value(json_object_get(md, "name")) ?: "?",
			    json_integer_value(json_object_get(md, "revision")),
			    json_string_value(json_object_get(md, "created")) ?: "",
			    summary(k, obj, sum, sizeof(sum)));
	}
}

/* GETs the list at PATH (which may carry a query already), following
 * metadata.continue from page to page, and returns one document holding
 * every page's items under the first page's revision (a client that
 * must see every later change watches from there). Each page is its own
 * consistent snapshot. Returns 0, or a CLI exit code after printing the
 * error. */
static int
get_list_all(const struct client_conf *conf, const char *path, json_t **ret)
{
	struct client_response	 resp = { 0 };
	_cleanup_json_ json_t	*all = NULL;
	_cleanup_free_ char	*token = NULL;
	char			 page[512 + 2 * 512 + 32];
	int			 rc = 0;

	for (;;) {
		_cleanup_json_ json_t	*doc = NULL;
		const char		*next;

		/* pages of at most 500 objects: the server then also bounds
		 * each page's bytes, which a whole list is not */
		snprintf(page, sizeof(page), "%s", path);
		if (add_param(page, sizeof(page), "limit", "500") < 0 ||
		    add_param(page, sizeof(page), "continue", token) < 0) {
			fprintf(stderr, "bulwark: get: continue token too long\n");
			rc = CLI_EXIT_FAILED;
			goto out;
		}
		if ((rc = request_expect(conf, "GET", page, NULL, 200, NULL,
		    &resp)) != 0)
			goto out;
		if (!(doc = json_loadb(resp.body, resp.body_len, 0, NULL)) ||
		    !json_is_array(json_object_get(doc, "items"))) {
			fprintf(stderr, "bulwark: get: the server answered a list "
			    "that is not JSON with items\n");
			rc = CLI_EXIT_FAILED;
			goto out;
		}
		client_response_clear(&resp);
		next = json_string_value(json_object_get(json_object_get(doc,
		    "metadata"), "continue"));
		free(token);
		token = next ? strdup(next) : NULL;
		if (next && !token) {
			rc = CLI_EXIT_FAILED;
			goto out;
		}
		json_object_del(doc, "metadata");
		if (!all)
			all = json_incref(doc);
		else if (json_array_extend(json_object_get(all, "items"),
		    json_object_get(doc, "items")) < 0) {
			rc = CLI_EXIT_FAILED;
			goto out;
		}
		if (!token)
			break;
	}
	*ret = TAKE_PTR(all);
out:
	client_response_clear(&resp);
	return rc;
}

static int
cmd_get(const struct cli_opts *o, const struct client_conf *conf, int full)
{
	const struct res_kind		*k = res_kind_lookup(o->kind);
	struct client_response		 resp = { 0 };
	_cleanup_json_ json_t		*doc = NULL;
	_cleanup_free_ char		*text = NULL;
	char				 path[512];
	json_t				*items;
	int				 rc;

	if (k->scope == RES_TENANT && o->name && !o->tenant) {
		fprintf(stderr, "bulwark: -t TENANT is required to name a %s\n",
		    k->kind);
		return CLI_EXIT_USAGE;
	}
	if (api_path(k, o->tenant, o->name, path, sizeof(path)) < 0 ||
	    (!o->name && add_param(path, sizeof(path), "selector",
	    o->selector) < 0)) {
		fprintf(stderr, "bulwark: get: names or selector too long\n");
		return CLI_EXIT_USAGE;
	}
	if (!o->name) {
		if ((rc = get_list_all(conf, path, &doc)) != 0)
			return rc;
	} else {
		if ((rc = request_expect(conf, "GET", path, NULL, 200, NULL,
		    &resp)) != 0)
			goto out;
		doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	}
	if (!doc) {
		fprintf(stderr, "bulwark: get: the server's answer is not JSON\n");
		rc = CLI_EXIT_FAILED;
		goto out;
	}
	if (o->output == CLI_OUT_JSON || full) {
		if (!(text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
			rc = CLI_EXIT_FAILED;
			goto out;
		}
		printf("%s\n", text);
	} else if ((items = json_object_get(doc, "items")))
		print_table(k, items);
	else {
		items = json_array();
		json_array_append(items, doc);
		print_table(k, items);
		json_decref(items);
	}
out:
	client_response_clear(&resp);
	return rc;
}

/* Checks DOC's kind and names before it is sent, giving it the tenant
 * of -t when it names none; *RET_K, *RET_NAME and *RET_TENANT (NULL for
 * a kind outside tenants) point into DOC. 0 or the exit code. */
static int
apply_prepare(const struct cli_opts *o, json_t *doc, const struct res_kind **ret_k,
    const char **ret_name, const char **ret_tenant)
{
	const struct res_kind	*k;
	const char		*kind, *name, *tenant;
	json_t			*md;

	kind = json_string_value(json_object_get(doc, "kind"));
	md = json_object_get(doc, "metadata");
	name = json_string_value(json_object_get(md, "name"));
	tenant = json_string_value(json_object_get(md, "tenant"));
	if (!kind || !(k = res_kind_by_name(kind))) {
		fprintf(stderr, "bulwark: apply: document has no known \"kind\"\n");
		return CLI_EXIT_USAGE;
	}
	if (!name || !schema_is_dns_label(name)) {
		fprintf(stderr, "bulwark: apply: %s has no valid metadata.name\n", kind);
		return CLI_EXIT_USAGE;
	}
	if (!tenant && k->scope == RES_TENANT) {
		if (!o->tenant) {
			fprintf(stderr, "bulwark: apply: %s %s needs metadata.tenant "
			    "or -t TENANT\n", kind, name);
			return CLI_EXIT_USAGE;
		}
		tenant = o->tenant;
		json_object_set_new(md, "tenant", json_string(tenant));
		tenant = json_string_value(json_object_get(md, "tenant"));
	}
	if (tenant && !schema_is_dns_label(tenant)) {
		fprintf(stderr, "bulwark: apply: metadata.tenant is not a valid name\n");
		return CLI_EXIT_USAGE;
	}
	*ret_k = k;
	*ret_name = name;
	*ret_tenant = k->scope == RES_TENANT ? tenant : NULL;
	return 0;
}

/* "node/NAME created (revision R)" for an applied object. */
static void
apply_print(const char *kind, const char *name, bool created, json_int_t rev)
{
	char	 lower[64];
	size_t	 i;

	for (i = 0; kind[i] && i + 1 < sizeof(lower); i++)
		lower[i] = (char)(kind[i] >= 'A' && kind[i] <= 'Z' ?
		    kind[i] - 'A' + 'a' : kind[i]);
	lower[i] = '\0';
	printf("%s/%s %s (revision %" JSON_INTEGER_FORMAT ")\n", lower, name,
	    created ? "created" : "configured", rev);
}

static int
apply_one(const struct cli_opts *o, const struct client_conf *conf, json_t *doc)
{
	struct client_response	 resp = { 0 };
	const struct res_kind	*k;
	const char		*name, *tenant;
	_cleanup_free_ char	*body = NULL;
	char			 path[512];
	int			 rc;

	if ((rc = apply_prepare(o, doc, &k, &name, &tenant)) != 0)
		return rc;
	if (api_path(k, tenant, name, path, sizeof(path)) < 0) {
		fprintf(stderr, "bulwark: apply: the API path for %s %s is "
		    "too long\n", k->kind, name);
		return CLI_EXIT_USAGE;
	}
	if (!(body = json_dumps(doc, JSON_COMPACT)))
		return CLI_EXIT_FAILED;
	if ((rc = request(conf, "PUT", path, body, &resp)) != 0)
		return rc;
	if (resp.status == 200 || resp.status == 201) {
		_cleanup_json_ json_t *out = json_loadb(resp.body, resp.body_len, 0, NULL);

		if (o->output == CLI_OUT_JSON)
			print_json(resp.body, resp.body_len);
		else
			apply_print(k->kind, name, resp.status == 201,
			    json_integer_value(json_object_get(json_object_get(out,
			    "metadata"), "revision")));
		rc = 0;
	} else {
		char ctx[160];

		snprintf(ctx, sizeof(ctx), "apply %s/%s", k->kind, name);
		rc = report_error_ctx(&resp, ctx);
	}
	client_response_clear(&resp);
	return rc;
}

/* Sends the documents DOCS[FIRST..FIRST+N) in one POST /v1/apply: one
 * transaction, all stored or none. 0 or the exit code. */
static int
apply_chunk(const struct cli_opts *o, const struct client_conf *conf,
    json_t *docs, size_t first, size_t n, bool chunked)
{
	struct client_response	 resp = { 0 };
	_cleanup_json_ json_t	*body = json_pack("{s:[]}", "items");
	_cleanup_json_ json_t	*out = NULL;
	_cleanup_free_ char	*text = NULL;
	json_t			*items = json_object_get(body, "items"), *it;
	char			 ctx[128];
	size_t			 i;
	int			 rc;

	for (i = first; items && i < first + n; i++)
		json_array_append(items, json_array_get(docs, i));
	if (!items || !(text = json_dumps(body, JSON_COMPACT)))
		return CLI_EXIT_FAILED;
	/* 503 "busy": the server bounds the bulk applies in flight */
	for (int tries = 0;; tries++) {
		if ((rc = request(conf, "POST", "/v1/apply", text, &resp)) != 0)
			return rc;
		if (resp.status != 503 || tries >= APPLY_BUSY_TRIES)
			break;
		client_response_clear(&resp);
		sleep(1);
	}
	if (resp.status != 200) {
		/* the server's items[I] counts from this request's first */
		if (chunked)
			snprintf(ctx, sizeof(ctx), "apply documents %zu-%zu "
			    "(items[0] is document %zu)", first + 1, first + n,
			    first + 1);
		else
			snprintf(ctx, sizeof(ctx), "apply (nothing was applied)");
		rc = report_error_ctx(&resp, ctx);
		goto out;
	}
	if (o->output == CLI_OUT_JSON) {
		print_json(resp.body, resp.body_len);
		goto out;
	}
	out = json_loadb(resp.body, resp.body_len, 0, NULL);
	json_array_foreach(json_object_get(out, "items"), i, it)
		apply_print(json_string_value(json_object_get(it, "kind")) ?: "?",
		    json_string_value(json_object_get(it, "name")) ?: "?",
		    strcmp(json_string_value(json_object_get(it, "result")) ?: "",
		    "created") == 0,
		    json_integer_value(json_object_get(it, "revision")));
out:
	client_response_clear(&resp);
	return rc;
}

/* Applies several documents through POST /v1/apply, as few requests as
 * the server's bounds allow (APPLY_BULK_ITEMS, APPLY_BULK_BYTES): each
 * request is one transaction; requests after a refused one are not
 * sent. 0 or the exit code. */
static int
apply_bulk(const struct cli_opts *o, const struct client_conf *conf,
    json_t *docs)
{
	size_t	 i, first = 0, bytes = 0, n = json_array_size(docs), nreq = 1;
	size_t	 sz;
	int	 rc;

	/* count the requests first, to say whether they are one */
	for (i = 0; i < n; i++) {
		sz = json_dumpb(json_array_get(docs, i), NULL, 0, JSON_COMPACT) + 1;
		if (i > first && (i - first >= APPLY_BULK_ITEMS ||
		    bytes + sz > APPLY_BULK_BYTES)) {
			nreq++;
			first = i;
			bytes = 0;
		}
		bytes += sz;
	}
	if (nreq > 1)
		fprintf(stderr, "bulwark: apply: %zu documents in %zu requests "
		    "(at most %d objects or %d bytes in one): each request is "
		    "its own transaction\n", n, nreq, APPLY_BULK_ITEMS,
		    APPLY_BULK_BYTES);
	for (first = 0, bytes = 0, i = 0; i <= n; i++) {
		sz = i < n ? json_dumpb(json_array_get(docs, i), NULL, 0,
		    JSON_COMPACT) + 1 : 0;
		if (i < n && (i == first || (i - first < APPLY_BULK_ITEMS &&
		    bytes + sz <= APPLY_BULK_BYTES))) {
			bytes += sz;
			continue;
		}
		if ((rc = apply_chunk(o, conf, docs, first, i - first,
		    nreq > 1)) != 0) {
			if (first > 0)
				fprintf(stderr, "bulwark: apply: documents "
				    "1-%zu were applied, %zu-%zu were not\n",
				    first, first + 1, n);
			return rc;
		}
		first = i;
		bytes = sz;
	}
	return 0;
}

static int
cmd_apply(const struct cli_opts *o, const struct client_conf *conf)
{
	_cleanup_free_ char	*text = NULL;
	_cleanup_free_ char	*err = NULL;
	size_t			 len, off = 0;
	int			 r, rc = 0;
	int			 fd;

	if (strcmp(o->file, "-") == 0)
		r = read_bounded(STDIN_FILENO, APPLY_MAX, &text, &len);
	else {
		fd = open(o->file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "bulwark: apply: %s: %s\n", o->file,
			    strerror(errno));
			return CLI_EXIT_USAGE;
		}
		r = read_bounded(fd, APPLY_MAX, &text, &len);
		close(fd);
	}
	if (r < 0) {
		fprintf(stderr, "bulwark: apply: %s: %s\n", o->file, bw_strerror(r));
		return CLI_EXIT_USAGE;
	}
	/* Accept one document, several concatenated, or an array of them;
	 * parse them all before sending any, so a typo in the third
	 * document does not leave the first two applied. */
	json_t *docs = json_array();
	while (off < len) {
		json_error_t	 jerr;
		json_t		*d;

		while (off < len && (text[off] == ' ' || text[off] == '\n' ||
		    text[off] == '\t' || text[off] == '\r'))
			off++;
		if (off == len)
			break;
		d = json_loadb(text + off, len - off,
		    JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &jerr);
		if (!d) {
			fprintf(stderr, "bulwark: apply: %s: invalid JSON at line "
			    "%d column %d: %s\n", o->file, jerr.line, jerr.column,
			    jerr.text);
			json_decref(docs);
			return CLI_EXIT_USAGE;
		}
		off += jerr.position;
		if (json_is_array(d))
			json_array_extend(docs, d);
		else
			json_array_append(docs, d);
		json_decref(d);
	}
	if (json_array_size(docs) == 0) {
		fprintf(stderr, "bulwark: apply: %s holds no document\n", o->file);
		json_decref(docs);
		return CLI_EXIT_USAGE;
	}
	size_t i;
	json_t *d;
	json_array_foreach(docs, i, d) {
		if (!json_is_object(d)) {
			fprintf(stderr, "bulwark: apply: document %zu is not an object\n",
			    i + 1);
			json_decref(docs);
			return CLI_EXIT_USAGE;
		}
	}
	if (json_array_size(docs) == 1) {
		rc = apply_one(o, conf, json_array_get(docs, 0));
		json_decref(docs);
		return rc;
	}
	json_array_foreach(docs, i, d) {
		const struct res_kind	*k;
		const char		*name, *tenant;

		if ((rc = apply_prepare(o, d, &k, &name, &tenant)) != 0) {
			fprintf(stderr, "bulwark: apply: document %zu refused; "
			    "nothing was sent\n", i + 1);
			json_decref(docs);
			return rc;
		}
	}
	rc = apply_bulk(o, conf, docs);
	json_decref(docs);
	return rc;
}

static int
cmd_delete(const struct cli_opts *o, const struct client_conf *conf)
{
	const struct res_kind	*k = res_kind_lookup(o->kind);
	struct client_response	 resp = { 0 };
	char			 path[512];
	int			 rc;

	if (k->scope == RES_TENANT && !o->tenant) {
		fprintf(stderr, "bulwark: -t TENANT is required to delete a %s\n",
		    k->kind);
		return CLI_EXIT_USAGE;
	}
	if (api_path(k, o->tenant, o->name, path, sizeof(path)) < 0) {
		fprintf(stderr, "bulwark: delete: the API path for %s %s is "
		    "too long\n", k->kind, o->name);
		return CLI_EXIT_USAGE;
	}
	if ((rc = request(conf, "DELETE", path, NULL, &resp)) != 0)
		return rc;
	if (resp.status == 200) {
		if (o->output == CLI_OUT_JSON)
			print_json(resp.body, resp.body_len);
		else
			printf("%s/%s deleted\n", k->plural, o->name);
	} else
		rc = report_error(&resp);
	client_response_clear(&resp);
	return rc;
}

struct watch_ctx {
	const struct cli_opts	*o;
	int			 status;
	char			 first[4096];
};

static int
watch_line(void *arg, const char *line, size_t len)
{
	struct watch_ctx	*w = arg;
	_cleanup_json_ json_t	*ev = NULL;
	const char		*type;

	if (w->status != 200) {
		snprintf(w->first, sizeof(w->first), "%.*s", (int)len, line);
		return 1;
	}
	if (w->o->output == CLI_OUT_JSON) {
		fwrite(line, 1, len, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		return 0;
	}
	ev = json_loadb(line, len, 0, NULL);
	type = json_string_value(json_object_get(ev, "type"));
	if (!type || strcmp(type, "HEARTBEAT") == 0)
		return 0;
	if (strcmp(type, "ERROR") == 0) {
		fprintf(stderr, "bulwark: watch ended: %s\n", json_string_value(
		    json_object_get(json_object_get(ev, "error"), "message")) ?: "");
		return 1;
	}
	printf("%-7s %-10" JSON_INTEGER_FORMAT " %s/%s/%s\n", type,
	    json_integer_value(json_object_get(ev, "revision")),
	    json_string_value(json_object_get(ev, "kind")) ?: "?",
	    json_string_value(json_object_get(ev, "tenant")) ?: "?",
	    json_string_value(json_object_get(ev, "name")) ?: "?");
	fflush(stdout);
	return 0;
}

static int
cmd_watch(const struct cli_opts *o, const struct client_conf *conf)
{
	struct watch_ctx	 w = { .o = o, .status = 200 };
	_cleanup_free_ char	*err = NULL;
	char			 path[256];
	int			 n, status = 0;

	n = snprintf(path, sizeof(path), "/v1/watch?");
	if (o->has_since)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "since=%" PRIu64 "&",
		    o->since);
	if (o->kind)
		snprintf(path + n, sizeof(path) - (size_t)n, "kind=%s",
		    res_kind_lookup(o->kind)->plural);
	/* the status is known before the first line arrives */
	if (client_stream(conf, path, watch_line, &w, &status, &err) < 0) {
		fprintf(stderr, "bulwark: %s\n", err ? err : "watch failed");
		return CLI_EXIT_UNREACHABLE;
	}
	if (status != 200) {
		struct client_response resp = { .status = status, .body = w.first,
		    .body_len = strlen(w.first) };

		return report_error(&resp);
	}
	return 0;
}

static int
cmd_simple(const struct cli_opts *o, const struct client_conf *conf,
    const char *path)
{
	struct client_response	resp = { 0 };
	int			rc;

	if ((rc = request_expect(conf, "GET", path, NULL, 200, NULL,
	    &resp)) == 0)
		print_json(resp.body, resp.body_len);
	client_response_clear(&resp);
	return rc;
}

static const char *
damage_name(enum audit_damage d)
{
	return audit_damage_name(d);
}

static int
cmd_audit_verify(const struct cli_opts *o, const struct client_conf *conf)
{
	struct audit_verify_report	 rep = { 0 };
	char				 dir[PATH_MAX];
	EVP_PKEY			**keys = NULL;
	size_t				 nkeys = 0;
	char				*err = NULL;
	int				 r, rc;

	if (o->dir)
		snprintf(dir, sizeof(dir), "%s", o->dir);
	else if (conf->ca) {
		/* DATA_DIR/pki/ca.crt -> DATA_DIR/audit */
		char *slash;

		snprintf(dir, sizeof(dir), "%s", conf->ca);
		if ((slash = strrchr(dir, '/')))
			*slash = '\0';
		if ((slash = strrchr(dir, '/')))
			*slash = '\0';
		else
			snprintf(dir, sizeof(dir), ".");
		strncat(dir, "/audit", sizeof(dir) - strlen(dir) - 1);
	} else {
		fprintf(stderr, "bulwark: audit verify: no directory given and no "
		    "configured appliance\n");
		return CLI_EXIT_USAGE;
	}
	/* The file may hold several keys (after a key change). */
	if (o->key_file && audit_pubkeys_load(o->key_file, &keys, &nkeys,
	    &err) < 0) {
		fprintf(stderr, "bulwark: audit verify: cannot read the public "
		    "key: %s\n", err ? err : o->key_file);
		free(err);
		return CLI_EXIT_USAGE;
	}
	r = audit_verify_dir_keys(dir, keys, nkeys, &rep);
	audit_pubkeys_free(keys, nkeys);
	if (o->output == CLI_OUT_JSON) {
		_cleanup_json_ json_t *j = json_pack("{s:s, s:b, s:s, s:I, s:s?, s:s?, "
		    "s:I, s:I, s:I}", "dir", dir, "ok", r == 0 && rep.damage == AUDIT_OK,
		    "damage", damage_name(rep.damage), "bad_seq",
		    (json_int_t)rep.bad_seq, "segment", rep.segment, "message",
		    rep.message, "records", (json_int_t)rep.records, "segments",
		    (json_int_t)rep.segments, "checkpoints",
		    (json_int_t)rep.checkpoints);
		_cleanup_free_ char *s = json_dumps(j, JSON_INDENT(2));

		if (s)
			printf("%s\n", s);
	}
	if (r == 0 && rep.damage == AUDIT_OK) {
		if (o->output != CLI_OUT_JSON)
			printf("audit trail %s: OK (%" PRIu64 " records, %" PRIu64
			    " segments, %" PRIu64 " checkpoints)\n", dir, rep.records,
			    rep.segments, rep.checkpoints);
		rc = CLI_EXIT_OK;
	} else {
		if (o->output != CLI_OUT_JSON)
			fprintf(stderr, "audit trail %s: FAILED at seq %" PRIu64
			    ": %s%s%s%s\n", dir, rep.bad_seq, damage_name(rep.damage),
			    rep.segment ? " in " : "", rep.segment ? rep.segment : "",
			    rep.message ? "" : "");
		if (o->output != CLI_OUT_JSON && rep.message)
			fprintf(stderr, "  %s\n", rep.message);
		rc = r < 0 && rep.damage == AUDIT_OK ? CLI_EXIT_USAGE : CLI_EXIT_VERIFY;
	}
	audit_verify_report_done(&rep);
	return rc;
}

static int
cmd_audit_search(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	 resp = { 0 };
	char			 path[2048] = "/v1/audit/records", lim[16];
	_cleanup_json_ json_t	*doc = NULL;
	json_t			*rec;
	size_t			 i;
	int			 rc;

	snprintf(lim, sizeof(lim), "%u", o->limit);
	if (add_param(path, sizeof(path), "actor", o->actor) < 0 ||
	    add_param(path, sizeof(path), "action", o->action) < 0 ||
	    add_param(path, sizeof(path), "kind", o->object_kind) < 0 ||
	    add_param(path, sizeof(path), "name", o->object) < 0 ||
	    add_param(path, sizeof(path), "outcome", o->outcome) < 0 ||
	    add_param(path, sizeof(path), "tenant", o->tenant) < 0 ||
	    add_param(path, sizeof(path), "since", o->since_text) < 0 ||
	    add_param(path, sizeof(path), "until", o->until_text) < 0 ||
	    add_param(path, sizeof(path), "limit", o->limit ? lim : NULL) < 0) {
		fprintf(stderr, "bulwark: audit search: filters too long\n");
		return CLI_EXIT_USAGE;
	}
	if ((rc = request_expect(conf, "GET", path, NULL, 200, NULL,
	    &resp)) != 0)
		goto out;
	if (o->output == CLI_OUT_JSON) {
		print_json(resp.body, resp.body_len);
		goto out;
	}
	doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	printf("%-8s %-30s %-12s %-22s %-28s %-8s %s\n", "SEQ", "TIME", "ACTOR",
	    "ACTION", "OBJECT", "OUTCOME", "REASON");
	json_array_foreach(json_object_get(doc, "items"), i, rec) {
		json_t	*ob = json_object_get(rec, "object");
		char	 obj[160];

		snprintf(obj, sizeof(obj), "%s%s%s%s%s",
		    json_string_value(json_object_get(ob, "kind")) ?: "-",
		    json_object_get(ob, "tenant") ? "/" : "",
		    json_string_value(json_object_get(ob, "tenant")) ?: "",
		    json_object_get(ob, "name") ? "/" : "",
		    json_string_value(json_object_get(ob, "name")) ?: "");
		printf("%-8" JSON_INTEGER_FORMAT " %-30s %-12s %-22s %-28s %-8s %s\n",
		    json_integer_value(json_object_get(rec, "seq")),
		    json_string_value(json_object_get(rec, "time")) ?: "",
		    json_string_value(json_object_get(rec, "actor")) ?: "-",
		    json_string_value(json_object_get(rec, "action")) ?: "-", obj,
		    json_string_value(json_object_get(rec, "outcome")) ?: "-",
		    json_string_value(json_object_get(rec, "reason")) ?: "");
	}
	if (json_is_true(json_object_get(doc, "truncated")))
		fprintf(stderr, "bulwark: more records match; narrow the filters "
		    "or raise --limit\n");
out:
	client_response_clear(&resp);
	return rc;
}

static int
write_out(const char *dir, const char *name, const char *ext, const char *text,
    mode_t mode)
{
	char	path[4096];
	int	r;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	if ((r = write_file_atomic_at(AT_FDCWD, path, text, strlen(text), mode)) < 0) {
		fprintf(stderr, "bulwark: cannot write %s: %s\n", path, bw_strerror(r));
		return r;
	}
	return 0;
}

/* The CSR to send for O's principal, and the key file its config will
 * name. The private key never leaves this machine: it is made here
 * (returned PEM in *RET_NEW_KEY_PEM, to be written to DIR/NAME.key),
 * or it is the owner's --principal-key, whose --csr (if given) must
 * certify it. */
static int
principal_csr(const struct cli_opts *o, const char *dirabs, char **ret_csr,
    char **ret_new_key_pem, char *key_path, size_t key_path_size)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL, *csr_key = NULL;
	_cleanup_secret_ char			*kpem = NULL;
	_cleanup_free_ char			*csr = NULL, *err = NULL;
	size_t					 len;
	int					 r;

	if (!o->principal_key) {
		if ((r = pki_key_new(&key, &kpem, &err)) < 0 ||
		    (r = pki_csr_build(key, o->name, &csr, &err)) < 0)
			goto fail;
		snprintf(key_path, key_path_size, "%s/%s.key", dirabs, o->name);
		*ret_csr = TAKE_PTR(csr);
		*ret_new_key_pem = TAKE_PTR(kpem);
		return 0;
	}
	if (!realpath(o->principal_key, key_path)) {
		r = -errno;
		fprintf(stderr, "bulwark: --principal-key %s: %s\n",
		    o->principal_key, strerror(errno));
		return r;
	}
	if ((r = crypto_load_key(key_path, &key, &err)) < 0)
		goto fail;
	if (!o->csr_file) {
		if ((r = pki_csr_build(key, o->name, &csr, &err)) < 0)
			goto fail;
	} else {
		if ((r = read_file_at(AT_FDCWD, o->csr_file, PKI_CSR_MAX, &csr,
		    &len)) < 0) {
			fprintf(stderr, "bulwark: --csr %s: %s\n", o->csr_file,
			    bw_strerror(r));
			return r;
		}
		if ((r = pki_csr_public_key(csr, len, &csr_key, &err)) < 0)
			goto fail;
		if (EVP_PKEY_eq(key, csr_key) != 1) {
			fprintf(stderr, "bulwark: --csr %s does not certify the "
			    "key in --principal-key %s\n", o->csr_file,
			    o->principal_key);
			return -BW_E_INVALID;
		}
	}
	*ret_csr = TAKE_PTR(csr);
	return 0;
fail:
	fprintf(stderr, "bulwark: %s\n", err ? err : bw_strerror(r));
	return r;
}

static int
cmd_principal_create(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	 resp = { 0 };
	_cleanup_json_ json_t	*req = NULL, *doc = NULL, *cf = NULL;
	_cleanup_free_ char	*body = NULL, *cfs = NULL, *csr = NULL;
	_cleanup_secret_ char	*new_key = NULL;
	char			 path[512], dirabs[4096], p[3][4200];
	int			 rc, r;

	if ((r = mkdir_p(o->out_dir, 0700)) < 0 || !realpath(o->out_dir, dirabs)) {
		fprintf(stderr, "bulwark: --out %s: %s\n", o->out_dir,
		    strerror(r < 0 ? -r : errno));
		return CLI_EXIT_USAGE;
	}
	if (principal_csr(o, dirabs, &csr, &new_key, p[1], sizeof(p[1])) < 0)
		return CLI_EXIT_FAILED;
	req = json_pack("{s:s, s:s, s:I, s:s}", "name", o->name, "role", o->role,
	    "days", (json_int_t)(o->days ? o->days : 90), "csr", csr);
	if (!req || !(body = json_dumps(req, JSON_COMPACT)))
		return CLI_EXIT_FAILED;
	snprintf(path, sizeof(path), "/v1/tenants/%s/principals", o->tenant);
	if ((rc = request_expect(conf, "POST", path, body, 201, NULL,
	    &resp)) != 0)
		goto out;
	doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	snprintf(p[0], sizeof(p[0]), "%s/%s.crt", dirabs, o->name);
	snprintf(p[2], sizeof(p[2]), "%s/ca.crt", dirabs);
	cf = json_pack("{s:s, s:s, s:s, s:s, s:s}", "server", conf->server, "ca",
	    p[2], "cert", p[0], "key", p[1], "principal", o->name);
	if (!doc || !cf || !(cfs = json_dumps(cf, JSON_INDENT(2))) ||
	    (new_key && write_out(dirabs, o->name, "key", new_key, 0600) < 0) ||
	    write_out(dirabs, o->name, "crt", json_string_value(json_object_get(doc,
	    "certificate")) ?: "", 0644) < 0 ||
	    write_out(dirabs, "ca", "crt", json_string_value(json_object_get(doc,
	    "ca")) ?: "", 0644) < 0 ||
	    write_out(dirabs, o->name, "conf", cfs, 0600) < 0) {
		rc = CLI_EXIT_FAILED;
		goto out;
	}
	if (o->output == CLI_OUT_JSON)
		printf("{\"name\":\"%s\",\"serial\":\"%s\",\"config\":\"%s/%s.conf\"}\n",
		    o->name, json_string_value(json_object_get(doc, "serial")) ?: "",
		    dirabs, o->name);
	else
		printf("principal %s/%s created (role %s, serial %s); use "
		    "bulwark --config %s/%s.conf\n", o->tenant, o->name, o->role,
		    json_string_value(json_object_get(doc, "serial")) ?: "?", dirabs,
		    o->name);
out:
	client_response_clear(&resp);
	return rc;
}

static int
cmd_principal_revoke(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	resp = { 0 };
	char			path[512];
	int			rc;

	snprintf(path, sizeof(path), "/v1/tenants/%s/principals/%s", o->tenant,
	    o->name);
	if ((rc = request_expect(conf, "DELETE", path, NULL, 200, NULL,
	    &resp)) == 0)
		printf("principal %s/%s revoked\n", o->tenant, o->name);
	client_response_clear(&resp);
	return rc;
}

static int
cmd_explain(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	 resp = { 0 };
	_cleanup_json_ json_t	*doc = NULL;
	json_t			*st, *sch, *item;
	char			 path[512];
	size_t			 i;
	int			 rc;

	snprintf(path, sizeof(path), "/v1/tenants/%s/instances/%s", o->tenant,
	    o->name);
	if ((rc = request_expect(conf, "GET", path, NULL, 200, NULL,
	    &resp)) != 0)
		goto out;
	doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	st = json_object_get(doc, "status");
	sch = json_object_get(st, "scheduling");
	if (o->output == CLI_OUT_JSON) {
		_cleanup_free_ char *s = json_dumps(st, JSON_INDENT(2));

		printf("%s\n", s ? s : "{}");
		goto out;
	}
	printf("instance %s/%s: %s%s%s\n", o->tenant, o->name,
	    json_string_value(json_object_get(st, "phase")) ?: "Pending",
	    json_object_get(json_object_get(doc, "spec"), "node") ? " on " : "",
	    json_string_value(json_object_get(json_object_get(doc, "spec"),
	    "node")) ?: "");
	printf("  %s\n", json_string_value(json_object_get(st, "message")) ?:
	    "(not considered by the scheduler yet)");
	json_array_foreach(json_object_get(sch, "rejected"), i, item)
		printf("  rejected: %" JSON_INTEGER_FORMAT " node(s) by %s: %s\n",
		    json_integer_value(json_object_get(item, "nodes")),
		    json_string_value(json_object_get(item, "filter")) ?: "?",
		    json_string_value(json_object_get(item, "reason")) ?: "?");
	json_array_foreach(json_object_get(sch, "scores"), i, item) {
		_cleanup_free_ char *s = json_dumps(item, JSON_COMPACT);

		printf("  score: %s\n", s ? s : "");
	}
out:
	client_response_clear(&resp);
	return rc;
}

static int
cmd_image_import(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	 resp = { 0 };
	_cleanup_json_ json_t	*req = NULL, *doc = NULL;
	_cleanup_free_ char	*body = NULL;
	char			 abs[4096];
	int			 rc;

	/* the daemon reads the file from local media: send where it is */
	if (!realpath(o->path, abs)) {
		fprintf(stderr, "bulwark: image import: %s: %s\n", o->path,
		    strerror(errno));
		return CLI_EXIT_USAGE;
	}
	req = json_pack("{s:s, s:s, s:s*}", "path", abs, "type",
	    o->image_type ? o->image_type : "container", "digest", o->digest);
	if (!req || !(body = json_dumps(req, JSON_COMPACT)))
		return CLI_EXIT_FAILED;
	if ((rc = request_expect(conf, "POST", "/v1/image-import", body, 201,
	    "image import", &resp)) != 0)
		goto out;
	doc = json_loadb(resp.body, resp.body_len, 0, NULL);
	if (o->output == CLI_OUT_JSON)
		print_json(resp.body, resp.body_len);
	else
		printf("image %s imported (%s, signed by %s)\n",
		    json_string_value(json_object_get(json_object_get(doc, "spec"),
		    "digest")) ?: "?",
		    json_string_value(json_object_get(json_object_get(doc, "metadata"),
		    "name")) ?: "?",
		    json_string_value(json_object_get(json_object_get(doc, "spec"),
		    "signer")) ?: "?");
out:
	client_response_clear(&resp);
	return rc;
}

static int
cmd_image_sign(const struct cli_opts *o)
{
	_cleanup_free_ char *err = NULL;

	if (image_sign(o->key, o->path, &err) < 0) {
		fprintf(stderr, "bulwark: image sign: %s\n", err ? err : "failed");
		return CLI_EXIT_FAILED;
	}
	printf("wrote %s.sig\n", o->path);
	return 0;
}

static int
cmd_image_trust_add(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	 resp = { 0 };
	_cleanup_free_ char	*pem = NULL, *body = NULL, *err = NULL;
	_cleanup_json_ json_t	*req = NULL;
	char			 name[64];
	const char		*base, *dot;
	size_t			 len;
	int			 r, rc;

	if ((r = read_file_at(AT_FDCWD, o->path, 16 * 1024, &pem, &len)) < 0) {
		fprintf(stderr, "bulwark: image trust add: %s: %s\n", o->path,
		    bw_strerror(r));
		return CLI_EXIT_USAGE;
	}
	base = strrchr(o->path, '/') ? strrchr(o->path, '/') + 1 : o->path;
	dot = strchr(base, '.');
	snprintf(name, sizeof(name), "%.*s", (int)(dot ? dot - base : (long)strlen(base)),
	    base);
	if (o->trust_name)
		snprintf(name, sizeof(name), "%s", o->trust_name);
	req = json_pack("{s:s, s:s}", "name", name, "pem", pem);
	if (!req || !(body = json_dumps(req, JSON_COMPACT)))
		return CLI_EXIT_USAGE;
	if ((rc = request_expect(conf, "POST", "/v1/image-trust", body, 201,
	    "image trust add", &resp)) == 0)
		printf("signer %s trusted\n", name);
	client_response_clear(&resp);
	return rc;
}

static int
cmd_compliance_controls(const struct cli_opts *o)
{
	const char		*bl = o->baseline ? o->baseline : "moderate";
	const char		*file = strcmp(bl, "low") == 0 ? COMP_BASELINE_LOW :
	    strcmp(bl, "high") == 0 ? COMP_BASELINE_HIGH : COMP_BASELINE_MODERATE;
	struct comp_catalog	*cat = NULL;
	struct comp_baseline	*base = NULL;
	_cleanup_free_ char	*err = NULL;
	char			 path[4200];
	size_t			 i, j, nchecks, automated = 0;
	const struct comp_check	*checks = comp_checks(&nchecks);
	json_t			*arr = NULL;
	int			 rc = CLI_EXIT_FAILED;

	snprintf(path, sizeof(path), "%s/" COMP_CATALOG_FILE, comp_data_dir());
	if (comp_catalog_load(path, &cat, &err) < 0) {
		fprintf(stderr, "bulwark: compliance controls: %s\n", err);
		return CLI_EXIT_FAILED;
	}
	snprintf(path, sizeof(path), "%s/%s", comp_data_dir(), file);
	if (comp_baseline_load(path, cat, &base, &err) < 0) {
		fprintf(stderr, "bulwark: compliance controls: %s\n", err);
		goto out;
	}
	if (o->output == CLI_OUT_JSON)
		arr = json_array();
	else
		printf("%-12s %-9s %-40s %s\n", "CONTROL", "AUTOMATED", "CHECKS",
		    "TITLE");
	for (i = 0; i < comp_baseline_count(base); i++) {
		const struct comp_control *c = comp_baseline_at(base, i);
		char by[256] = "";
		json_t *ids = json_array();

		for (j = 0; j < nchecks; j++)
			if (comp_check_covers(&checks[j], c->id)) {
				if (by[0])
					strncat(by, ",", sizeof(by) - strlen(by) - 1);
				strncat(by, checks[j].id, sizeof(by) - strlen(by) - 1);
				json_array_append_new(ids, json_string(checks[j].id));
			}
		if (by[0])
			automated++;
		if (arr)
			json_array_append_new(arr, json_pack("{s:s, s:s?, s:s?, s:b, s:o}",
			    "id", c->id, "label", c->label, "title", c->title,
			    "automated", by[0] != '\0', "checks", ids));
		else {
			json_decref(ids);
			printf("%-12s %-9s %-40.40s %s\n", c->label ? c->label : c->id,
			    by[0] ? "yes" : "manual", by[0] ? by : "-", c->title);
		}
	}
	if (arr) {
		json_t *o2 = json_pack("{s:s, s:I, s:I, s:o}", "baseline", bl,
		    "controls", (json_int_t)comp_baseline_count(base), "automated",
		    (json_int_t)automated, "items", arr);
		char *s = json_dumps(o2, JSON_INDENT(2));

		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(o2);
	} else
		printf("%zu controls in the %s baseline, %zu checked automatically\n",
		    comp_baseline_count(base), bl, automated);
	rc = 0;
out:
	comp_baseline_free(base);
	comp_catalog_free(cat);
	return rc;
}

static void
print_summary(json_t *doc)
{
	json_t		*fams = json_object_get(json_object_get(doc, "summary"),
	    "families");
	json_t		*tot = json_object_get(json_object_get(doc, "summary"), "total");
	json_t		*v, *r;
	const char	*k;
	size_t		 i;

	printf("%-28s %-14s %s\n", "CHECK", "VERDICT", "CONTROLS");
	json_array_foreach(json_object_get(doc, "results"), i, r) {
		char	ctl[200] = "";
		json_t	*c;
		size_t	j;

		json_array_foreach(json_object_get(r, "controls"), j, c) {
			if (ctl[0])
				strncat(ctl, ",", sizeof(ctl) - strlen(ctl) - 1);
			strncat(ctl, json_string_value(c), sizeof(ctl) - strlen(ctl) - 1);
		}
		printf("%-28s %-14s %s\n", json_string_value(json_object_get(r,
		    "check")) ?: "?", json_string_value(json_object_get(r,
		    "verdict")) ?: "?", ctl);
	}
	printf("\n%-8s %10s %14s %15s %8s\n", "FAMILY", "satisfied",
	    "not-satisfied", "not-applicable", "manual");
	json_object_foreach(fams, k, v)
		printf("%-8s %10lld %14lld %15lld %8lld\n", k,
		    (long long)json_integer_value(json_object_get(v, "satisfied")),
		    (long long)json_integer_value(json_object_get(v, "not-satisfied")),
		    (long long)json_integer_value(json_object_get(v, "not-applicable")),
		    (long long)json_integer_value(json_object_get(v, "manual")));
	printf("%-8s %10lld %14lld %15lld %8lld\n", "total",
	    (long long)json_integer_value(json_object_get(tot, "satisfied")),
	    (long long)json_integer_value(json_object_get(tot, "not-satisfied")),
	    (long long)json_integer_value(json_object_get(tot, "not-applicable")),
	    (long long)json_integer_value(json_object_get(tot, "manual")));
	printf("%s baseline: %lld controls assessed by %lld automated checks\n",
	    json_string_value(json_object_get(doc, "baseline")) ?: "?",
	    (long long)json_integer_value(json_object_get(doc, "automated_controls")),
	    (long long)json_integer_value(json_object_get(doc, "checks")));
}

static int
cmd_compliance_scan(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	 resp = { 0 };
	_cleanup_json_ json_t	*doc = NULL;
	char			 body[64];
	int			 rc;

	snprintf(body, sizeof(body), "{\"baseline\":\"%s\"}",
	    o->baseline ? o->baseline : "moderate");
	if ((rc = request_expect(conf, "POST", "/v1/compliance/scans", body,
	    201, "compliance scan", &resp)) != 0)
		goto out;
	if (o->output == CLI_OUT_JSON)
		print_json(resp.body, resp.body_len);
	else if ((doc = json_loadb(resp.body, resp.body_len, 0, NULL)))
		print_summary(doc);
out:
	client_response_clear(&resp);
	return rc;
}

static int
cmd_compliance_results(const struct cli_opts *o, const struct client_conf *conf)
{
	struct client_response	 resp = { 0 };
	_cleanup_json_ json_t	*doc = NULL;
	char			 path[128];
	const char		*fmt = o->format ? o->format : "summary";
	int			 rc;

	snprintf(path, sizeof(path), "/v1/compliance/results?format=%s", fmt);
	if ((rc = request_expect(conf, "GET", path, NULL, 200,
	    "compliance results", &resp)) == 0) {
		if (strcmp(fmt, "summary") == 0 && o->output != CLI_OUT_JSON &&
		    (doc = json_loadb(resp.body, resp.body_len, 0, NULL)))
			print_summary(doc);
		else
			print_json(resp.body, resp.body_len);
	}
	client_response_clear(&resp);
	return rc;
}

/* Downloads PATH into OUT (written beside it and renamed: no half
 * file on failure); WHAT names the command in messages. */
static int
download_signed(const struct client_conf *conf, const char *path,
    const char *out, const char *what)
{
	_cleanup_free_ char	*err = NULL, *errbody = NULL;
	char			 tmp[4200];
	int			 fd, r, status = 0;

	snprintf(tmp, sizeof(tmp), "%s.part", out);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "bulwark: %s: %s: %s\n", what, tmp,
		    strerror(errno));
		return CLI_EXIT_USAGE;
	}
	r = client_download(conf, path, fd, isatty(STDERR_FILENO), &status,
	    &errbody, &err);
	if (r == 0 && status == 200 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0 || status != 200) {
		unlink(tmp);
		if (r < 0) {
			fprintf(stderr, "bulwark: %s: %s\n", what,
			    err ? err : bw_strerror(r));
			return CLI_EXIT_UNREACHABLE;
		}
		struct client_response resp = { .status = status, .body = errbody,
		    .body_len = errbody ? strlen(errbody) : 0 };
		return report_error_ctx(&resp, what);
	}
	if (rename(tmp, out) < 0) {
		fprintf(stderr, "bulwark: %s: %s: %s\n", what, out,
		    strerror(errno));
		unlink(tmp);
		return CLI_EXIT_FAILED;
	}
	printf("wrote %s; verify it offline with: bulwark-verify --key "
	    "AUDIT-CHECKPOINT-PUBKEY.pem %s\n", out, out);
	return 0;
}

static int
cmd_evidence_export(const struct cli_opts *o, const struct client_conf *conf)
{
	_cleanup_free_ char	*s = NULL, *u = NULL;
	char			 path[512] = "/v1/compliance/evidence";
	size_t			 n;

	if (o->since_text && (s = evhttp_encode_uri(o->since_text))) {
		n = strlen(path);
		snprintf(path + n, sizeof(path) - n, "?since=%s", s);
	}
	if (o->until_text && (u = evhttp_encode_uri(o->until_text))) {
		n = strlen(path);
		snprintf(path + n, sizeof(path) - n, "%cuntil=%s",
		    strchr(path, '?') ? '&' : '?', u);
	}
	if (o->refuse_stale) {
		n = strlen(path);
		snprintf(path + n, sizeof(path) - n, "%crefuse_stale=1",
		    strchr(path, '?') ? '&' : '?');
	}
	return download_signed(conf, path, o->out_file, "evidence export");
}

static int
cmd_evidence_conmon(const struct cli_opts *o, const struct client_conf *conf)
{
	char path[64];

	/* set_month() let only digits and '-' through. */
	snprintf(path, sizeof(path), "/v1/compliance/conmon?month=%s", o->month);
	return download_signed(conf, path, o->out_file, "evidence conmon");
}

/* Prints what TAIL adds to PREV: the whole of TAIL unless it continues
 * PREV (the node keeps a moving 16 KiB window). */
/* node bootstrap|approve live with the identity module. */
static int
cmd_node(const struct cli_opts *o, const struct client_conf *conf)
{
	return identity_cli_node(conf, o->cmd == CLI_NODE_APPROVE, o->name,
	    o->ttl, o->out_file);
}

static int
cmd_describe(const struct cli_opts *o, const struct client_conf *conf)
{
	return cmd_get(o, conf, 1);
}

static int
cmd_list(const struct cli_opts *o, const struct client_conf *conf)
{
	return cmd_get(o, conf, 0);
}

static int
cmd_whoami(const struct cli_opts *o, const struct client_conf *conf)
{
	return cmd_simple(o, conf, "/v1/whoami");
}

static int
cmd_health(const struct cli_opts *o, const struct client_conf *conf)
{
	return cmd_simple(o, conf, "/healthz");
}

static int
cmd_image_sign_local(const struct cli_opts *o, const struct client_conf *conf)
{
	return cmd_image_sign(o);
}

static int
cmd_compliance_controls_local(const struct cli_opts *o,
    const struct client_conf *conf)
{
	return cmd_compliance_controls(o);
}

/* What runs each parsed command (cli-args.c's table says how it is
 * parsed; this one lives here so the parser links without the client). */
static const struct {
	enum cli_cmd	 cmd;
	int		(*run)(const struct cli_opts *o,
			    const struct client_conf *conf);
} handlers[] = {
	{ CLI_GET, cmd_list },
	{ CLI_DESCRIBE, cmd_describe },
	{ CLI_APPLY, cmd_apply },
	{ CLI_DELETE, cmd_delete },
	{ CLI_WATCH, cmd_watch },
	{ CLI_LOGS, logs_cli },
	{ CLI_WHOAMI, cmd_whoami },
	{ CLI_HEALTH, cmd_health },
	{ CLI_AUDIT_VERIFY, cmd_audit_verify },
	{ CLI_AUDIT_SEARCH, cmd_audit_search },
	{ CLI_PRINCIPAL_CREATE, cmd_principal_create },
	{ CLI_PRINCIPAL_REVOKE, cmd_principal_revoke },
	{ CLI_EXPLAIN, cmd_explain },
	{ CLI_IMAGE_IMPORT, cmd_image_import },
	{ CLI_IMAGE_SIGN, cmd_image_sign_local },
	{ CLI_IMAGE_TRUST_ADD, cmd_image_trust_add },
	{ CLI_COMPLIANCE_CONTROLS, cmd_compliance_controls_local },
	{ CLI_COMPLIANCE_SCAN, cmd_compliance_scan },
	{ CLI_COMPLIANCE_RESULTS, cmd_compliance_results },
	{ CLI_EVIDENCE_EXPORT, cmd_evidence_export },
	{ CLI_EVIDENCE_CONMON, cmd_evidence_conmon },
	{ CLI_NODE_BOOTSTRAP, cmd_node },
	{ CLI_NODE_APPROVE, cmd_node },
	{ CLI_WAIVER_CREATE, waiver_cli },
	{ CLI_WAIVER_APPROVE, waiver_cli },
	{ CLI_WAIVER_LIST, waiver_cli },
	{ CLI_WAIVER_WITHDRAW, waiver_cli },
	{ CLI_STORE_SNAPSHOT, store_cli },
	{ CLI_STORE_VERIFY, store_cli },
	{ CLI_STORE_RESTORE, store_cli },
};

int
main(int argc, char **argv)
{
	struct cli_opts		 o;
	struct client_conf	 conf = { 0 };
	_cleanup_free_ char	*err = NULL;
	size_t			 i;
	int			 rc;

	/* a server that dies mid-request must not kill us */
	signal(SIGPIPE, SIG_IGN);
	if (cli_parse(argc, argv, &o, &err) < 0) {
		fprintf(stderr, "bulwark: %s\n", err);
		return CLI_EXIT_USAGE;
	}
	switch (o.cmd) {
	case CLI_HELP:
		cli_help(stdout, o.help_for, o.help_group);
		return 0;
	case CLI_HELP_MAN:
		cli_help_man(stdout);
		return 0;
	case CLI_VERSION:
		printf("bulwark %s\n", PACKAGE_VERSION);
		return 0;
	default:
		break;
	}
	for (i = 0; i < ELEMENTSOF(handlers) && handlers[i].cmd != o.cmd; i++)
		;
	if (i == ELEMENTSOF(handlers))
		return CLI_EXIT_USAGE;
	if ((rc = resolve_config(&o, &conf)) == 0)
		rc = handlers[i].run(&o, &conf);
	client_conf_clear(&conf);
	return rc;
}

/* The etcd backend's transport: blocking HTTPS POSTs of JSON documents to
 * etcd's v3 gateway with libcurl, a client certificate, the cluster's CA
 * and the appliance's TLS policy (hardening/crypto), over a small pool
 * of kept-alive handles so concurrent readers do not queue behind the
 * committer. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "controlplane/store-etcd-internal.h"
#include "hardening/crypto-policy.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/json.h"

#define ETCD_RESPONSE_MAX	((size_t)256 << 20)
#define ETCD_TIMEOUT_S		30L

struct etcd_body {
	char	*buf;
	size_t	 len;
	int	 too_large;
};

static size_t
etcd_body_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct etcd_body *b = userdata;
	size_t	 n = size * nmemb;
	char	*nb;

	if (b->len + n + 1 > ETCD_RESPONSE_MAX) {
		b->too_large = 1;
		return 0;
	}
	if (!(nb = realloc(b->buf, b->len + n + 1)))
		return 0;
	b->buf = nb;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = 0;
	return n;
}

/* libcurl's OpenSSL context gets the versions, suites, groups and
 * signature algorithms every TLS link of the appliance uses. */
static CURLcode
etcd_ssl_policy(CURL *h, void *sslctx, void *arg)
{
	SSL_CTX	*ctx = sslctx;

	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, crypto_tls_cipher_list()) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, crypto_tls_ciphersuites()) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, crypto_tls_groups()) != 1 ||
	    SSL_CTX_set1_sigalgs_list(ctx, crypto_tls_sigalgs()) != 1)
		return CURLE_SSL_CIPHER;
	return CURLE_OK;
}

CURL *
etcd_handle_get(struct etcd_store *es)
{
	CURL	*h = NULL;

	pthread_mutex_lock(&es->pool_mu);
	if (es->pool_n > 0)
		h = es->pool[--es->pool_n];
	pthread_mutex_unlock(&es->pool_mu);
	if (h || !(h = curl_easy_init()))
		return h;
	/* The cluster's CA alone: without CAPATH NULL, Debian's libcurl
	 * also trusts /etc/ssl/certs, so any publicly issued certificate
	 * for an endpoint's name would pass as a member. */
	if (curl_easy_setopt(h, CURLOPT_CAINFO, es->ca) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CAPATH, NULL) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSLCERT, es->cert) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSLKEY, es->key) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, etcd_ssl_policy) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_TIMEOUT, ETCD_TIMEOUT_S) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L) != CURLE_OK) {
		curl_easy_cleanup(h);
		return NULL;
	}
	return h;
}

void
etcd_handle_put(struct etcd_store *es, CURL *h)
{
	pthread_mutex_lock(&es->pool_mu);
	if (es->pool_n < ETCD_POOL_MAX) {
		es->pool[es->pool_n++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&es->pool_mu);
	if (h)
		curl_easy_cleanup(h);
}

void
etcd_http_close(struct etcd_store *es)
{
	while (es->pool_n > 0)
		curl_easy_cleanup(es->pool[--es->pool_n]);
}

/* gRPC status codes the gateway returns. */
enum {
	GRPC_DEADLINE_EXCEEDED = 4, GRPC_NOT_FOUND = 5, GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7, GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9, GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11, GRPC_UNIMPLEMENTED = 12,
	GRPC_UNAVAILABLE = 14, GRPC_DATA_LOSS = 15, GRPC_UNAUTHENTICATED = 16,
	GRPC_INVALID_ARGUMENT = 3,
};

/* The store error of a gRPC status CODE that the message did not
 * already decide; what is not listed counts as unavailable. */
static int
etcd_grpc_error(long long code)
{
	switch (code) {
	case GRPC_INVALID_ARGUMENT:	return -BW_E_INVALID;
	case GRPC_NOT_FOUND:		return -BW_E_NOTFOUND;	/* a lease */
	case GRPC_ALREADY_EXISTS:	return -BW_E_EXISTS;
	case GRPC_PERMISSION_DENIED:	return -BW_E_DENIED;
	case GRPC_UNAUTHENTICATED:	return -BW_E_UNAUTH;
	case GRPC_RESOURCE_EXHAUSTED:	return -BW_E_NOSPACE;
	case GRPC_FAILED_PRECONDITION:
	case GRPC_ABORTED:		return -BW_E_CONFLICT;
	case GRPC_OUT_OF_RANGE:		return -BW_E_COMPACTED;
	case GRPC_UNIMPLEMENTED:	return -ENOTSUP;
	case GRPC_DATA_LOSS:		return -BW_E_CORRUPT;
	default:			return -BW_E_UNAVAILABLE;
	}
}

/* Maps a gateway error document ({"error","code","message"}: a gRPC
 * status) to a store error. *DOWN: the cluster cannot serve (no
 * quorum, its request timed out, or no status at all). */
static int
etcd_status_error(int http, const char *body, int *down, char **ret_err)
{
	json_t	*doc = json_loads(body ? body : "", 0, NULL);
	const char *msg = doc ? json_string_value(json_object_get(doc,
	    "message")) : NULL;
	long long code = doc ? json_integer_value(json_object_get(doc,
	    "code")) : 0;
	int	 r = -BW_E_UNAVAILABLE;

	if (!msg)
		msg = "no error message";
	*down = (code == 0 && http >= 500) || code == GRPC_UNAVAILABLE ||
	    code == GRPC_DEADLINE_EXCEEDED;
	if (strstr(msg, "compacted"))
		r = -BW_E_COMPACTED;
	else if (strstr(msg, "too many operations") ||
	    strstr(msg, "too large"))
		r = -BW_E_TOOLARGE;
	else if (strstr(msg, "space exceeded"))
		r = -BW_E_NOSPACE;	/* past --quota-backend-bytes */
	else
		r = etcd_grpc_error(code);
	r = errf(r, ret_err, "etcd: HTTP %d, gRPC code %lld: %s", http, code,
	    msg);
	json_decref(doc);
	return r;
}

/* *DOWN: the member could not be reached or the cluster cannot serve
 * (etcd_status_error()). */
static int
etcd_post_one(struct etcd_store *es, CURL *h, const char *endpoint,
    const char *path, const char *body, long timeout_ms, json_t **ret,
    int *down, char **ret_err)
{
	struct etcd_body b = { 0 };
	struct curl_slist *hdr = NULL;
	char	 url[512];
	long	 http = 0;
	CURLcode cc;
	int	 r;

	snprintf(url, sizeof(url), "https://%s%s", endpoint, path);
	hdr = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, etcd_body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms :
	    ETCD_TIMEOUT_S * 1000);
	cc = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	*down = 0;
	if (cc != CURLE_OK) {
		*down = !b.too_large;
		r = errf(b.too_large ? -BW_E_TOOLARGE : -BW_E_UNAVAILABLE,
		    ret_err, "etcd %s: %s", endpoint, curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);
	if (http != 200) {
		r = etcd_status_error((int)http, b.buf, down, ret_err);
		goto out;
	}
	if (json_parse_bounded(b.buf ? b.buf : "", b.len, 64, ret, NULL) < 0) {
		r = errf(-BW_E_CORRUPT, ret_err, "etcd %s: response is not "
		    "JSON", endpoint);
		goto out;
	}
	r = 0;
out:
	free(b.buf);
	return r;
}

/* While the cluster was unavailable less than ETCD_DOWN_MS ago, calls
 * fail at once with its last message: an etcd without quorum answers
 * each request only when its own request timeout (about 7 s) ends, and
 * a server reading the store on its event loop must not wait that long
 * for every request in its queue. */
static int
etcd_down(struct etcd_store *es, char **ret_err)
{
	int64_t	 until, now = bw_mono_ms();
	int	 r = 0;

	pthread_mutex_lock(&es->pool_mu);
	until = es->down_until_ms;
	if (until > now)
		r = errf(-BW_E_UNAVAILABLE, ret_err, "%s (the etcd cluster "
		    "was unavailable %lld ms ago; asked again %lld ms from "
		    "now)", es->down_msg, (long long)(now - (until -
		    ETCD_DOWN_MS)), (long long)(until - now));
	pthread_mutex_unlock(&es->pool_mu);
	return r;
}

static void
etcd_went_down(struct etcd_store *es, const char *msg)
{
	pthread_mutex_lock(&es->pool_mu);
	es->down_until_ms = bw_mono_ms() + ETCD_DOWN_MS;
	snprintf(es->down_msg, sizeof(es->down_msg), "%s", msg ? msg :
	    "etcd: unavailable");
	pthread_mutex_unlock(&es->pool_mu);
}

int
etcd_post(struct etcd_store *es, const char *path, json_t *req, json_t **ret,
    char **ret_err)
{
	return etcd_post_timed(es, path, req, 0, ret, ret_err);
}

int
etcd_post_timed(struct etcd_store *es, const char *path, json_t *req,
    long timeout_ms, json_t **ret, char **ret_err)
{
	char	*body = json_dumps(req, JSON_COMPACT);
	CURL	*h;
	size_t	 i, first;
	int	 r = -ENOMEM, down = 0;

	*ret = NULL;
	if (!body)
		return errf(-ENOMEM, ret_err, "etcd: out of memory");
	/* A call with its own (short) timeout, the election's, neither
	 * waits out the switch nor trips it: its timing out says nothing
	 * of whether the cluster serves calls that may wait longer. */
	if (timeout_ms == 0 && (r = etcd_down(es, ret_err)) < 0) {
		free(body);
		return r;
	}
	if (!(h = etcd_handle_get(es))) {
		free(body);
		return errf(-ENOMEM, ret_err, "etcd: cannot make a handle");
	}
	/* Start at the endpoint that answered last; move on only when one
	 * cannot be reached (its answers, errors too, are the cluster's). */
	first = __atomic_load_n(&es->cur, __ATOMIC_RELAXED);
	for (i = 0; i < es->n_endpoints; i++) {
		size_t	 e = (first + i) % es->n_endpoints;
		char	*err = NULL;

		r = etcd_post_one(es, h, es->endpoints[e], path, body,
		    timeout_ms, ret, &down, &err);
		if (r != -BW_E_UNAVAILABLE || i + 1 == es->n_endpoints ||
		    strstr(err ? err : "", "gRPC code")) {
			if (r == 0)
				__atomic_store_n(&es->cur, e, __ATOMIC_RELAXED);
			if (r < 0 && ret_err)
				*ret_err = err;
			else
				free(err);
			break;
		}
		free(err);
	}
	etcd_handle_put(es, h);
	free(body);
	if (r == -BW_E_UNAVAILABLE && down && timeout_ms == 0)
		etcd_went_down(es, ret_err ? *ret_err : NULL);
	return r;
}

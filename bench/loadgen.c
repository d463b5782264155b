/* bw-loadgen: drives concurrent durable writes through an HTTP API with
 * one kept-alive connection per client thread, and reports acknowledged
 * writes/s and latency. The clock starts once every client has
 * connected, so the rate is of writes, not of TLS handshakes. The same client code talks to bulwarkd (mutual
 * TLS, PUT of Tenant objects) and to etcd's v3 JSON gateway (plain HTTP
 * on loopback, POST /v3/kv/put), so the two are compared like for like.
 * With --ack-log every acknowledged write is appended as "NAME REV" so a
 * crash test can check that none was lost. With --rewrite TENANT/NAME
 * every op replaces that one Workload (replicas 0) instead, its command
 * padded to --pad bytes (each write numbered, so each is a new
 * version): the store's change log then grows by one large
 * version per write (tests/integration/sec-store-capacity.sh). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "client/client.h"
#include "lib/clock.h"
#include "lib/json.h"

struct lg_opts {
	const char	*config, *url, *mode, *prefix, *ack_log, *rewrite;
	int		 clients;
	long		 ops;
	long		 pad;
	char		*rewrite_body;	/* the --rewrite document */
};

/* The Workload --rewrite writes: TENANT/NAME, replicas 0, its command
 * strings (4,000 bytes each, the schema allows 4,096) adding up to at
 * least PAD bytes. NULL on bad input. */
static char *
rewrite_body(const char *target, long pad)
{
	_cleanup_json_ json_t	*doc = NULL, *cmd = NULL;
	char			 tenant[64], chunk[4001];
	const char		*slash = strchr(target, '/');
	long			 n;

	if (!slash || slash == target || (size_t)(slash - target) >= sizeof(tenant) ||
	    !slash[1] || pad < 0 || pad > 200000)
		return NULL;
	memcpy(tenant, target, (size_t)(slash - target));
	tenant[slash - target] = 0;
	memset(chunk, 'x', sizeof(chunk) - 1);
	chunk[sizeof(chunk) - 1] = 0;
	if (!(cmd = json_array()))
		return NULL;
	for (n = 0; n < pad; n += (long)sizeof(chunk) - 1)
		if (json_array_append_new(cmd, json_string(chunk)) < 0)
			return NULL;
	doc = json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:i, s:{s:i, s:i}, s:O}}",
	    "kind", "Workload", "metadata", "name", slash + 1, "tenant", tenant,
	    "spec", "type", "container", "image", "sha256:"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	    "replicas", 0, "resources", "cpu_millis", 100, "memory_mib", 64,
	    "command", cmd);
	return doc ? json_dumps(doc, JSON_COMPACT) : NULL;
}

struct lg_thread {
	pthread_t		 tid;
	int			 idx;
	const struct lg_opts	*o;
	pthread_barrier_t	*start;
	struct client_conf	*conf;
	FILE			*ack;
	pthread_mutex_t		*ack_mu;
	double			*lat;	/* ms per acknowledged op */
	long			 nlat, acked, errors;
};

static char *
b64(const char *s)
{
	size_t	 n = strlen(s);
	char	*out = malloc(4 * ((n + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
	return out;
}

static void *
lg_run(void *arg)
{
	struct lg_thread	*t = arg;
	const struct lg_opts	*o = t->o;
	struct client_conn	*cc = NULL;
	long			 per = o->ops / o->clients, i;
	int			 etcd = strcmp(o->mode, "etcd") == 0;
	char			*err = NULL;

	if (t->idx < o->ops % o->clients)
		per++;
	/* Every client connects (TLS handshake included) before the clock
	 * starts: the run measures writes, not connection set-up. */
	if (client_conn_open(t->conf, &cc, &err) < 0) {
		free(err);
		err = NULL;
		cc = NULL;
	}
	pthread_barrier_wait(t->start);
	for (i = 0; i < per; i++) {
		struct client_response	 resp = { 0 };
		char			 name[128], path[256], body[512];
		char			*req = NULL;
		double			 t0;
		json_t			*doc;
		json_int_t		 rev = -1;

		if (!cc && client_conn_open(t->conf, &cc, &err) < 0) {
			free(err);
			err = NULL;
			t->errors += per - i;
			break;
		}
		snprintf(name, sizeof(name), "%s-%d-%ld", o->prefix, t->idx, i);
		snprintf(body, sizeof(body), "{\"kind\":\"Tenant\",\"metadata\":"
		    "{\"name\":\"%s\"},\"spec\":{\"description\":\"load\"}}", name);
		if (o->rewrite_body) {
			const char *slash = strchr(o->rewrite, '/');

			char *x;

			/* each write different (the write number over the
			 * padding's first bytes): bulwarkd answers a write
			 * that changes nothing without a new version */
			req = strdup(o->rewrite_body);
			if (req && (x = strstr(req, "xxxxxxxxxxxx"))) {
				char num[24];

				snprintf(num, sizeof(num), "%012ld", i);
				memcpy(x, num, 12);
			}
			snprintf(path, sizeof(path), "/v1/tenants/%.*s/workloads/%s",
			    (int)(slash - o->rewrite), o->rewrite, slash + 1);
			snprintf(name, sizeof(name), "%s", slash + 1);
		} else if (etcd) {
			char *k = b64(name), *v = b64(body);

			if (!k || !v || asprintf(&req, "{\"key\":\"%s\",\"value\":\"%s\"}",
			    k, v) < 0)
				req = NULL;
			free(k);
			free(v);
			snprintf(path, sizeof(path), "/v3/kv/put");
		} else {
			req = strdup(body);
			snprintf(path, sizeof(path), "/v1/tenants/%s", name);
		}
		if (!req) {
			t->errors++;
			continue;
		}
		t0 = bw_mono_s();
		if (client_conn_request(cc, etcd ? "POST" : "PUT", path, req, &resp,
		    &err) < 0) {
			/* the server went away (crash tests kill it): this
			 * write is unacknowledged; stop this client */
			free(err);
			err = NULL;
			free(req);
			t->errors += per - i;
			break;
		}
		free(req);
		if (resp.status == 200 || resp.status == 201) {
			t->lat[t->nlat++] = (bw_mono_s() - t0) * 1000.0;
			t->acked++;
			doc = json_loadb(resp.body, resp.body_len, 0, NULL);
			if (etcd)
				rev = strtoll(json_string_value(json_object_get(
				    json_object_get(doc, "header"), "revision")) ?: "-1",
				    NULL, 10);
			else
				rev = json_integer_value(json_object_get(
				    json_object_get(doc, "metadata"), "revision"));
			json_decref(doc);
			if (t->ack) {
				pthread_mutex_lock(t->ack_mu);
				fprintf(t->ack, "%s %" JSON_INTEGER_FORMAT "\n", name, rev);
				fflush(t->ack);
				pthread_mutex_unlock(t->ack_mu);
			}
		} else
			t->errors++;
		client_response_clear(&resp);
	}
	client_conn_close(cc);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ "mode", required_argument, NULL, 'm' },
		{ "clients", required_argument, NULL, 'n' },
		{ "ops", required_argument, NULL, 'o' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "ack-log", required_argument, NULL, 'a' },
		{ "rewrite", required_argument, NULL, 'r' },
		{ "pad", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lg_opts		 o = { .mode = "bulwark", .prefix = "lg",
	    .clients = 1, .ops = 1000 };
	struct client_conf	 conf = { 0 };
	struct lg_thread	*th;
	pthread_mutex_t		 ack_mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_barrier_t	 start;
	FILE			*ack = NULL;
	double			*all, t0, secs;
	long			 acked = 0, errors = 0, n = 0, i;
	char			*err = NULL;
	int			 c, k;

	/* a server that dies mid-request must not kill us */
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o.config = optarg; break;
		case 'u': o.url = optarg; break;
		case 'm': o.mode = optarg; break;
		case 'n': o.clients = atoi(optarg); break;
		case 'o': o.ops = atol(optarg); break;
		case 'p': o.prefix = optarg; break;
		case 'a': o.ack_log = optarg; break;
		case 'r': o.rewrite = optarg; break;
		case 'P': o.pad = atol(optarg); break;
		default:
			fprintf(stderr, "usage: bw-loadgen [--config FILE] [--url URL] "
			    "[--mode bulwark|etcd] [--clients N] [--ops M] "
			    "[--prefix P] [--ack-log FILE] "
			    "[--rewrite TENANT/NAME [--pad BYTES]]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (o.clients < 1 || o.clients > 1024 || o.ops < 1 ||
	    (strcmp(o.mode, "bulwark") && strcmp(o.mode, "etcd"))) {
		fprintf(stderr, "bw-loadgen: bad --clients, --ops or --mode\n");
		return 2;
	}
	/* One object: concurrent replaces of it would conflict (409). */
	if (o.rewrite && (o.clients != 1 || strcmp(o.mode, "bulwark") ||
	    !(o.rewrite_body = rewrite_body(o.rewrite, o.pad)))) {
		fprintf(stderr, "bw-loadgen: --rewrite TENANT/NAME needs --clients 1, "
		    "--mode bulwark and --pad 0..200000\n");
		return 2;
	}
	if (o.url)
		conf.server = strdup(o.url);
	conf.allow_plain = strcmp(o.mode, "etcd") == 0;
	if (o.config && client_conf_load(o.config, &conf, &err) < 0) {
		fprintf(stderr, "bw-loadgen: %s\n", err);
		return 2;
	}
	if (o.ack_log && !(ack = fopen(o.ack_log, "ae"))) {
		fprintf(stderr, "bw-loadgen: %s: %s\n", o.ack_log, strerror(errno));
		return 2;
	}
	th = calloc((size_t)o.clients, sizeof(*th));
	all = calloc((size_t)o.ops, sizeof(*all));
	if (!th || !all)
		return 1;
	if (pthread_barrier_init(&start, NULL, (unsigned)o.clients + 1) != 0)
		return 1;
	for (k = 0; k < o.clients; k++) {
		th[k].idx = k;
		th[k].o = &o;
		th[k].start = &start;
		th[k].conf = &conf;
		th[k].ack = ack;
		th[k].ack_mu = &ack_mu;
		th[k].lat = calloc((size_t)(o.ops / o.clients + 1), sizeof(double));
		if (!th[k].lat || pthread_create(&th[k].tid, NULL, lg_run, &th[k]) != 0)
			return 1;
	}
	pthread_barrier_wait(&start);
	t0 = bw_mono_s();
	for (k = 0; k < o.clients; k++) {
		pthread_join(th[k].tid, NULL);
		acked += th[k].acked;
		errors += th[k].errors;
		for (i = 0; i < th[k].nlat; i++)
			all[n++] = th[k].lat[i];
		free(th[k].lat);
	}
	secs = bw_mono_s() - t0;
	qsort(all, (size_t)n, sizeof(*all), cmp_double);
	printf("{\"mode\":\"%s\",\"clients\":%d,\"ops\":%ld,\"acked\":%ld,"
	    "\"errors\":%ld,\"seconds\":%.3f,\"ops_per_sec\":%.1f,"
	    "\"p50_ms\":%.3f,\"p99_ms\":%.3f}\n", o.mode, o.clients, o.ops, acked,
	    errors, secs, secs > 0 ? (double)acked / secs : 0.0,
	    n ? all[n / 2] : 0.0, n ? all[(size_t)((double)n * 0.99)] : 0.0);
	if (ack)
		fclose(ack);
	free(all);
	free(th);
	pthread_barrier_destroy(&start);
	client_conf_clear(&conf);
	free(o.rewrite_body);
	return errors && !o.ack_log ? 1 : 0;
}

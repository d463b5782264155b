/* bulwarkd: the Bulwark control plane. In all-in-one mode (the default)
 * one process serves the API, holds the store and writes the audit
 * trail; see bulwarkd(8). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "daemon/daemon-config.h"
#include "audit/trail.h"
#include "controlplane/api.h"
#include "controlplane/commit.h"
#include "controlplane/store.h"
#include "daemon/identity.h"
#include "hardening/crypto-policy.h"
#include "console/console-conf.h"
#include "hardening/pki.h"
#include "hardening/sandbox.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ipaddr.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/opt-help.h"
#include "privsep/spawner.h"
#include "privsep/worker.h"

static const struct opt_help options[] = {
	{ "data-dir", 'd', "DIR", "state directory (default "
	  BWD_DEFAULT_DATA_DIR "); created 0700 with pki/, store/ and audit/ "
	  "inside" },
	{ "listen", 'l', "ADDR:PORT", "address to serve on (default "
	  BWD_DEFAULT_LISTEN "); [ADDR6]:PORT for IPv6, port 0 picks a free "
	  "port" },
	{ "server-name", 'n', "NAME", "extra DNS name or IPv4/IPv6 address "
	  "for the server certificate (repeatable)" },
	{ "log-level", 'L', "LEVEL", "debug, info, warn or error (default "
	  "info)" },
	{ "pid-file", 'p', "FILE", "write the process id to FILE (default "
	  "DIR/bulwarkd.pid)" },
	{ "default-quota", 'Q', "RESOURCE=N[,RESOURCE=N...]", "quota of every "
	  "tenant for resources no Quota object limits (cpu_millis, "
	  "memory_mib, instances, workloads, networks; N or none); default "
	  "instances=100, workloads=50, networks=8, cpu_millis=64000, "
	  "memory_mib=262144" },
	{ "max-connections", 'M', "N", "serve at most N API connections at "
	  "once (default 1024); at the limit the oldest idle connection of "
	  "the principal holding the most is closed (none idle: the new one)" },
	{ "import-root", 'I', "DIR", "directory images may be imported from "
	  "(repeatable; default /media and /mnt: local media only)" },
	{ "allow-unattested-nodes", 'U', NULL, "schedule on nodes whose "
	  "attestation is still pending (development only; untrusted nodes "
	  "never get work)" },
	{ "tpm", 'T', "TCTI", "TPM to use, e.g. device:/dev/tpmrm0 or "
	  "swtpm:host=127.0.0.1,port=2321 (default /dev/tpmrm0 when present, "
	  "else a private development swtpm with its state in DIR/tpm/)" },
	{ "config", 'C', "FILE", "configuration (default DIR/bulwarkd.conf, "
	  "created when missing); its SHA-256 is measured into PCR 13" },
	{ "reseal", 'R', NULL, "planned configuration change: with bulwarkd "
	  "stopped, re-seal the secrets to the current --config file and "
	  "record it in the audit trail, then exit" },
	{ "previous-config", 'P', "FILE", "with --reseal: the configuration "
	  "the secrets are sealed to now" },
	{ "reason", 'r', "TEXT", "with --reseal: why (recorded in the audit "
	  "trail)" },
	{ "server-cert-lifetime", 'E', "SECONDS", "issue and renew the server "
	  "certificate for SECONDS (10..315360000; default 365 days), renewed "
	  "once two thirds have passed; for testing renewal" },
	{ "privsep", 'S', NULL, "serve TLS from an unprivileged, confined "
	  "worker process that never holds the server key; the daemon "
	  "keeps the keys, the store and the trail (docs/hardening.md, "
	  "\"Processes\"); the default" },
	{ "no-privsep", 'N', NULL, "serve TLS from the daemon itself (one "
	  "process; for comparison and diagnosis)" },
	{ "store", 'D', "SPEC", "the state store: etcd://HOST:PORT[,...]/PREFIX"
	  "?ca=FILE&cert=FILE&key=FILE (an etcd v3 cluster over mutual TLS, "
	  "shared by several replicas: one leader runs the controllers, all "
	  "serve the API), or lmdb:DIR (default: LMDB in DIR/store)" },
	{ "replica-id", 'i', "NAME", "this replica's name in the leader "
	  "election and its audit outbox on etcd (default: the host name; "
	  "unique among the replicas of one store, stable across restarts)" },
	{ "console-config", 'c', "FILE", "the console's configuration (an "
	  "absolute path), read at each compliance scan for the idle lock it "
	  "reports and at each session certificate for its session_max, the "
	  "longest issued (default " CONSOLE_CONF_DEFAULT ", bulwark-console's "
	  "own default); a missing file, or one not a regular file owned by "
	  "root and writable by no one else, reports nothing and caps at 24 h" },
	{ "help", 'h', NULL, "show this help and exit (also -h)" },
	{ "version", 'V', NULL, "show the version and exit (also -V)" },
};

static void
usage(FILE *f)
{
	fputs("Usage: bulwarkd [OPTIONS]\n"
	    "\n"
	    "Runs the Bulwark control plane: the HTTPS API (mutual TLS), the "
	    "state\nstore, the commit pipeline and the audit trail. With no "
	    "mode option it\nruns all-in-one on embedded defaults (LMDB store, "
	    "local trail).\n\nOptions:\n", f);
	opt_help_print(f, options, ELEMENTSOF(options));
	fputs("\n"
	    "On first start the data directory receives a development CA and "
	    "client\ncredentials: DIR/pki/ca.crt with the CA key sealed to the "
	    "TPM\n(DIR/pki/ca.key.sealed), DIR/pki/{server,admin,auditor}.{crt,key} "
	    "(keys\n0600), DIR/admin.conf and DIR/auditor.conf for `bulwark "
	    "--config`.\n\n"
	    "Signals: SIGTERM and SIGINT stop the daemon cleanly.\n"
	    "Exit status: 0 after a clean stop, 1 on a start-up or runtime "
	    "error,\n2 on a usage error.\n", f);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	log_info("signal %d: shutting down", (int)sig);
	event_base_loopexit(base, NULL);
}

/* bulwarkd --reseal: the admin's planned, audited re-seal (identity.h).
 * The actor recorded is the invoking user (sudo's SUDO_USER first). */
static int
run_reseal(const struct bwd_config *cfg, const char *previous_config,
    const char *reason)
{
	struct identity_options	 io = { .tcti = cfg->tpm_tcti,
	    .config_path = cfg->config_path, .allow_swtpm = 1 };
	_cleanup_free_ char	*err = NULL;
	char			 dir[PATH_MAX], actor[64];
	const char		*who = getenv("SUDO_USER");
	int			 r;

	if (!realpath(cfg->data_dir, dir)) {
		fprintf(stderr, "bulwarkd: --data-dir %s: %s\n", cfg->data_dir,
		    strerror(errno));
		return 1;
	}
	if (!who || !*who)
		who = getenv("USER");
	snprintf(actor, sizeof(actor), "%s(uid=%u)", who && *who ? who :
	    "unknown", (unsigned)getuid());
	io.data_dir = dir;
	if ((r = identity_reseal(&io, previous_config, actor, reason,
	    &err)) < 0) {
		log_error("re-seal failed: %s", err ? err : bw_strerror(r));
		return 1;
	}
	log_info("re-sealed: start bulwarkd with the new configuration");
	return 0;
}

/* The command line: the daemon's configuration and the --reseal mode. */
struct bwd_args {
	struct bwd_config	 cfg;
	const char		*previous_config, *reason;
	int			 reseal;
};

/* --max-connections N. Returns false on a usage error (said on
 * stderr). */
static bool
parse_max_connections(const char *arg, unsigned *ret)
{
	unsigned long v;

	if (opt_help_uint("bulwarkd", "max-connections", arg, 1, 1000000,
	    &v) < 0)
		return false;
	*ret = (unsigned)v;
	return true;
}

/* --server-cert-lifetime SECONDS, within what pki_renew_server()
 * accepts. Returns false on a usage error (said on stderr). */
static bool
parse_cert_lifetime(const char *arg, unsigned *ret)
{
	unsigned long long	 v;
	char			*end;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (!errno && end != arg && !*end && v >= PKI_SERVER_SECS_MIN &&
	    v <= PKI_MAX_DAYS * 86400ull) {
		*ret = (unsigned)v;
		return true;
	}
	fprintf(stderr, "bulwarkd: --server-cert-lifetime: must be %d..%llu "
	    "seconds\n", PKI_SERVER_SECS_MIN, PKI_MAX_DAYS * 86400ull);
	return false;
}

/* Appends ARG of the repeatable option --OPT to LIST (*N entries, kept
 * NULL-terminated). Returns false when LIST is full (said on stderr). */
static bool
add_repeated(const char **list, int *n, const char *opt, const char *arg)
{
	if (*n + 1 >= BWD_SERVER_NAMES_MAX) {
		fprintf(stderr, "bulwarkd: at most %d --%s\n",
		    BWD_SERVER_NAMES_MAX - 1, opt);
		return false;
	}
	list[(*n)++] = arg;
	return true;
}

/* Takes option C with its argument ARG into A. Returns false on a usage
 * error (said on stderr). */
static bool
parse_opt(int c, char *arg, struct bwd_args *a)
{
	struct bwd_config	*cfg = &a->cfg;
	_cleanup_free_ char	*qerr = NULL;

	switch (c) {
	case 'd':
		cfg->data_dir = arg;
		return true;
	case 'l':
		cfg->listen = arg;
		return true;
	case 'n':
		/* An address (an IPv4 one in IPv6 form too, which
		 * pki_init_dir() refuses by name) goes to the
		 * certificate's iPAddress names; anything else is a DNS
		 * name, checked by pki_init_dir(). */
		if (bw_ip_literal(arg) != BW_IP_NONE)
			return add_repeated(cfg->server_ips, &cfg->n_server_ips,
			    "server-name", arg);
		return add_repeated(cfg->server_names, &cfg->n_server_names,
		    "server-name", arg);
	case 'L':
		if (bwd_parse_log_level(arg, &cfg->log_level) < 0) {
			fprintf(stderr, "bulwarkd: --log-level: must be "
			    "debug, info, warn or error\n");
			return false;
		}
		return true;
	case 'p':
		cfg->pid_file = arg;
		return true;
	case 'Q':
		if (quota_limits_parse(arg, &cfg->default_quota, &qerr) < 0) {
			fprintf(stderr, "bulwarkd: --default-quota: %s\n",
			    qerr ? qerr : "invalid");
			return false;
		}
		return true;
	case 'M':
		return parse_max_connections(arg, &cfg->max_connections);
	case 'U':
		cfg->allow_unattested = 1;
		return true;
	case 'E':
		return parse_cert_lifetime(arg, &cfg->server_cert_lifetime);
	case 'S':
		cfg->privsep = 1;
		return true;
	case 'N':
		cfg->privsep = 0;
		return true;
	case 'I':
		return add_repeated(cfg->import_roots, &cfg->n_import_roots,
		    "import-root", arg);
	case 'T':
		cfg->tpm_tcti = arg;
		return true;
	case 'D':
		cfg->store_spec = arg;
		return true;
	case 'i':
		cfg->replica_id = arg;
		return true;
	case 'C':
		cfg->config_path = arg;
		return true;
	case 'c':
		/* Read at every scan, long after start: a relative path
		 * would depend on the working directory then, and one the
		 * facts buffer cannot hold would be cut to another file. */
		if (arg[0] != '/' || strlen(arg) >= PATH_MAX) {
			fprintf(stderr, "bulwarkd: --console-config: must be "
			    "an absolute path shorter than %d bytes\n",
			    PATH_MAX);
			return false;
		}
		cfg->console_config = arg;
		return true;
	case 'R':
		a->reseal = 1;
		return true;
	case 'P':
		a->previous_config = arg;
		return true;
	case 'r':
		a->reason = arg;
		return true;
	default:
		usage(stderr);
		return false;
	}
}

/* Parses the command line into A. Returns true to go on, false when
 * the program ends here with the status *RET_EXIT: 0 after --help or
 * --version, 2 on a usage error. */
static bool
parse_args(int argc, char **argv, struct bwd_args *a, int *ret_exit)
{
	struct option	 longopts[ELEMENTSOF(options) + 1];
	int		 c;

	bwd_config_defaults(&a->cfg);
	opt_help_longopts(options, ELEMENTSOF(options), longopts);
	*ret_exit = 0;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return false;
		}
		if (c == 'V') {
			printf("bulwarkd %s\n", PACKAGE_VERSION);
			return false;
		}
		if (!parse_opt(c, optarg, a)) {
			*ret_exit = 2;
			return false;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulwarkd: unexpected argument \"%s\"\n", argv[optind]);
		*ret_exit = 2;
		return false;
	}
	return true;
}

/* Opens everything and serves until a signal stops the loop. What it
 * opened is ST's (bwd_close()). Returns the exit status. */
static int
serve(const struct bwd_config *cfg, struct event_base *base,
    struct bwd_state *st)
{
	struct event		*sigterm = NULL, *sigint = NULL;
	_cleanup_free_ char	*err = NULL;
	int			 r, rc = 1;

	if ((r = bwd_open(cfg, base, st, &err)) < 0) {
		log_error("start-up failed: %s", err ? err : bw_strerror(r));
		goto out;
	}
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	log_info("serving on https://%s (port %d), data in %s", cfg->listen,
	    api_server_port(st->api), cfg->data_dir);
	if (event_base_dispatch(base) < 0) {
		log_error("event loop failed");
		goto out;
	}
	rc = 0;
out:
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	return rc;
}

/* The daemon's event loop. Its epoll backend keeps a change list: the
 * changes a callback makes to an fd's events are applied once, at the
 * next epoll_wait(), not one epoll_ctl() each. Per request on a
 * kept-alive connection evhttp stops reading, reads again and starts
 * writing, then stops writing: four epoll_ctl() calls, two with the
 * list (measured 2026-12-07 with 500 unchanged Node writes a second:
 * the loop thread 8.3 -> 6.9 % of a core, bench/README.md). libevent
 * warns that the list misbehaves with fds cloned by dup(): an fd this
 * loop watches is closed while its removal waits in the list, so a
 * clone kept elsewhere would keep it in the epoll set. The daemon
 * never dup()s an fd it watches, and every one is O_CLOEXEC (the
 * API's accepted connections too: api.c's listeners), so a child
 * forked meanwhile holds copies only until its exec. */
static struct event_base *
loop_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base = NULL;

	if (!(cfg = event_config_new()))
		return NULL;
	if (event_config_set_flag(cfg,
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST) == 0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int
main(int argc, char **argv)
{
	struct bwd_args		 a = { .reseal = 0 };
	struct bwd_state	 st = { 0 };
	struct event_base	*base = NULL;
	_cleanup_free_ char	*err = NULL;
	int			 rc;

	/* The API worker, started by the daemon itself (privsep/worker.h):
	 * not an option anyone else gives. */
	if (argc == 2 && strcmp(argv[1], "--worker") == 0) {
		log_init("bulwarkd-worker", LOG_LVL_INFO);
		sandbox_exit(psw_worker_main());
	}
	log_init("bulwarkd", LOG_LVL_INFO);
	if (!parse_args(argc, argv, &a, &rc))
		return rc;
	log_init("bulwarkd", a.cfg.log_level);
	if (a.reseal != (a.previous_config != NULL)) {
		fprintf(stderr, "bulwarkd: --reseal and --previous-config go "
		    "together\n");
		return 2;
	}
	if (a.reseal)
		return run_reseal(&a.cfg, a.previous_config, a.reason);
	/* A bad --server-name is refused before the data directory gets
	 * anything (TPM state, bulwarkd.conf), not after the identity is
	 * made; pki_init_dir() checks the names again. */
	if (pki_check_server_names(&(struct pki_init_options){
	    .server_names = a.cfg.server_names,
	    .server_ips = a.cfg.server_ips }, &err) < 0) {
		log_error("start-up failed: %s", err ? err : "server names");
		return 1;
	}
	/* Before the spawner, whose children inherit it: a write to a
	 * closed peer must be an EPIPE to handle, not the end of the
	 * process (a client could end the API worker at will). */
	signal(SIGPIPE, SIG_IGN);
	/* The spawner (privsep/spawner.h) first, while nothing is open
	 * and no thread runs: it alone keeps CAP_SETUID and CAP_SETGID. */
	if (a.cfg.privsep && pss_start(&err) < 0) {
		log_error("%s", err ? err : "spawner failed");
		return 1;
	}
	if (evthread_use_pthreads() < 0)
		fatal("libevent has no pthreads support");
	if (!(base = loop_new()))
		fatal("cannot create the event loop");
	rc = serve(&a.cfg, base, &st);
	bwd_close(&st);
	pss_stop();
	event_base_free(base);
	log_info("stopped");
	return rc;
}

/* bulwarkd: the Bulwark control plane. In all-in-one mode (the default)
 * one process serves the API, holds the store and writes the audit
 * trail; see bulwarkd(8). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "appliance/daemon-config.h"
#include "appliance/identity.h"
#include "audit/trail.h"
#include "controlplane/api.h"
#include "controlplane/commit.h"
#include "controlplane/store.h"
#include "hardening/crypto-policy.h"
#include "hardening/pki.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"

static const char usage_text[] =
"Usage: bulwarkd [OPTIONS]\n"
"\n"
"Runs the Bulwark control plane: the HTTPS API (mutual TLS), the state\n"
"store, the commit pipeline and the audit trail. With no mode option it\n"
"runs all-in-one on embedded defaults (LMDB store, local trail).\n"
"\n"
"Options:\n"
"  --data-dir DIR     state directory (default " BWD_DEFAULT_DATA_DIR ");\n"
"                     created 0700 with pki/, store/ and audit/ inside\n"
"  --listen ADDR:PORT address to serve on (default " BWD_DEFAULT_LISTEN ");\n"
"                     [ADDR6]:PORT for IPv6, port 0 picks a free port\n"
"  --server-name NAME extra DNS name for the server certificate (repeatable)\n"
"  --log-level LEVEL  debug, info, warn or error (default info)\n"
"  --pid-file FILE    write the process id to FILE (default DIR/bulwarkd.pid)\n"
"  --default-quota RESOURCE=N[,RESOURCE=N...]\n"
"                     quota of every tenant for resources no Quota object\n"
"                     limits (cpu_millis, memory_mib, instances, workloads,\n"
"                     networks; N or none); default instances=100,\n"
"                     workloads=50, networks=8, cpu_millis=64000,\n"
"                     memory_mib=262144\n"
"  --max-connections N\n"
"                     serve at most N API connections at once (default 1024);\n"
"                     at the limit new ones wait until one closes\n"
"  --import-root DIR  directory images may be imported from (repeatable;\n"
"                     default /media and /mnt: local media only)\n"
"  --allow-unattested-nodes\n"
"                     schedule on nodes whose attestation is still pending\n"
"                     (development only; untrusted nodes never get work)\n"
"  --tpm TCTI         TPM to use, e.g. device:/dev/tpmrm0 or\n"
"                     swtpm:host=127.0.0.1,port=2321 (default /dev/tpmrm0\n"
"                     when present, else a private development swtpm with\n"
"                     its state in DIR/tpm/)\n"
"  --config FILE      configuration (default DIR/bulwarkd.conf, created when\n"
"                     missing); its SHA-256 is measured into PCR 13\n"
"  --reseal           planned configuration change: with bulwarkd stopped,\n"
"                     re-seal the secrets to the current --config file and\n"
"                     record it in the audit trail, then exit\n"
"  --previous-config FILE  with --reseal: the configuration the secrets\n"
"                     are sealed to now\n"
"  --reason TEXT      with --reseal: why (recorded in the audit trail)\n"
"  -h, --help         show this help and exit\n"
"  -V, --version      show the version and exit\n"
"\n"
"On first start the data directory receives a development CA and client\n"
"credentials: DIR/pki/{ca,server,admin,auditor}.{crt,key} (keys 0600),\n"
"DIR/admin.conf and DIR/auditor.conf for `bulwark --config`.\n"
"\n"
"Signals: SIGTERM and SIGINT stop the daemon cleanly.\n"
"Exit status: 0 after a clean stop, 1 on a start-up or runtime error,\n"
"2 on a usage error.\n";

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

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "server-name", required_argument, NULL, 'n' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ "default-quota", required_argument, NULL, 'Q' },
		{ "allow-unattested-nodes", no_argument, NULL, 'U' },
		{ "import-root", required_argument, NULL, 'I' },
		{ "max-connections", required_argument, NULL, 'M' },
		{ "tpm", required_argument, NULL, 'T' },
		{ "config", required_argument, NULL, 'C' },
		{ "reseal", no_argument, NULL, 'R' },
		{ "previous-config", required_argument, NULL, 'P' },
		{ "reason", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct bwd_config	 cfg = { 0 };
	struct bwd_state	 st = { 0 };
	struct event_base	*base = NULL;
	struct event		*sigterm = NULL, *sigint = NULL;
	_cleanup_free_ char	*err = NULL;
	const char		*previous_config = NULL, *reason = NULL;
	int			 c, r, rc = 1, reseal = 0;

	log_init("bulwarkd", LOG_LVL_INFO);
	bwd_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.data_dir = optarg;
			break;
		case 'l':
			cfg.listen = optarg;
			break;
		case 'n':
			if (cfg.n_server_names + 1 >= BWD_SERVER_NAMES_MAX) {
				fprintf(stderr, "bulwarkd: at most %d --server-name\n",
				    BWD_SERVER_NAMES_MAX - 1);
				return 2;
			}
			cfg.server_names[cfg.n_server_names++] = optarg;
			break;
		case 'L':
			if (bwd_parse_log_level(optarg, &cfg.log_level) < 0) {
				fprintf(stderr, "bulwarkd: --log-level: must be "
				    "debug, info, warn or error\n");
				return 2;
			}
			break;
		case 'p':
			cfg.pid_file = optarg;
			break;
		case 'Q': {
			_cleanup_free_ char *qerr = NULL;

			if (quota_limits_parse(optarg, &cfg.default_quota,
			    &qerr) < 0) {
				fprintf(stderr, "bulwarkd: --default-quota: %s\n",
				    qerr ? qerr : "invalid");
				return 2;
			}
			break;
		}
		case 'M': {
			char		*end;
			unsigned long	 v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v < 1 || v > 1000000) {
				fprintf(stderr, "bulwarkd: --max-connections: "
				    "must be 1..1000000\n");
				return 2;
			}
			cfg.max_connections = (unsigned)v;
			break;
		}
		case 'U':
			cfg.allow_unattested = 1;
			break;
		case 'I':
			if (cfg.n_import_roots + 1 >= BWD_SERVER_NAMES_MAX) {
				fprintf(stderr, "bulwarkd: at most %d --import-root\n",
				    BWD_SERVER_NAMES_MAX - 1);
				return 2;
			}
			cfg.import_roots[cfg.n_import_roots++] = optarg;
			break;
		case 'T':
			cfg.tpm_tcti = optarg;
			break;
		case 'C':
			cfg.config_path = optarg;
			break;
		case 'R':
			reseal = 1;
			break;
		case 'P':
			previous_config = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("bulwarkd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulwarkd: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	log_init("bulwarkd", cfg.log_level);
	if (reseal != (previous_config != NULL)) {
		fprintf(stderr, "bulwarkd: --reseal and --previous-config go "
		    "together\n");
		return 2;
	}
	if (reseal)
		return run_reseal(&cfg, previous_config, reason);
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() < 0)
		fatal("libevent has no pthreads support");
	if (!(base = event_base_new()))
		fatal("cannot create the event loop");

	if ((r = bwd_open(&cfg, base, &st, &err)) < 0) {
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
	log_info("serving on https://%s (port %d), data in %s", cfg.listen,
	    api_server_port(st.api), cfg.data_dir);
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
	bwd_close(&st);
	if (base)
		event_base_free(base);
	log_info("stopped");
	return rc;
}

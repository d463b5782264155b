/* bulwarkd's configuration and the start-up and shut-down of its
 * parts, in dependency order. The parts created here (keys, store,
 * audit trail) are the privileged half of the daemon; the API server
 * only reaches them through the commit pipeline and read calls. */
#ifndef BW_DAEMON_CONFIG_H
#define BW_DAEMON_CONFIG_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "controlplane/controller.h"
#include "controlplane/principals.h"
#include "controlplane/quota.h"
#include "daemon/compliance-api.h"
#include "daemon/console-cred.h"
#include "daemon/ha.h"
#include "hardening/pki.h"
#include "daemon/image-api.h"
#include "daemon/logs-api.h"
#include "daemon/waiver-api.h"
#include "lib/log.h"

#define BWD_DEFAULT_DATA_DIR	"/var/lib/bulwark"
#define BWD_DEFAULT_LISTEN	"127.0.0.1:8443"
#define BWD_SERVER_NAMES_MAX	16

struct bwd_config {
	const char	*data_dir;
	const char	*listen;
	const char	*pid_file;
	/* --server-name: DNS names and IP literals (inet_pton decides),
	 * each NULL-terminated */
	const char	*server_names[BWD_SERVER_NAMES_MAX];
	int		 n_server_names;
	const char	*server_ips[BWD_SERVER_NAMES_MAX];
	int		 n_server_ips;
	enum log_level	 log_level;
	int		 allow_unattested;	/* development: schedule on unattested nodes */
	const char	*import_roots[BWD_SERVER_NAMES_MAX];	/* NULL-terminated */
	int		 n_import_roots;
	/* TPM identity (daemon/identity.h): --tpm TCTI (NULL: /dev/tpmrm0,
	 * else a private swtpm in all-in-one mode) and --config FILE (NULL:
	 * DIR/bulwarkd.conf, measured into PCR 13). */
	const char	*tpm_tcti;
	const char	*config_path;
	unsigned	 max_connections;	/* 0: the API's default */
	/* --default-quota over QUOTA_DEFAULT_LIMITS (controlplane/quota.h) */
	struct quota_limits default_quota;
	/* --server-cert-lifetime: seconds (0: PKI_SERVER_DAYS), for tests
	 * of renewal (daemon/cert-renew.h) */
	unsigned	 server_cert_lifetime;
	/* --privsep: TLS in an unprivileged worker process
	 * (daemon/privsep-parent.h) */
	int		 privsep;
	/* --store SPEC (controlplane/store-etcd.h; NULL: LMDB in DIR/store)
	 * and --replica-id NAME (NULL: the host name), which names the
	 * replica in the election and its audit outbox on etcd */
	const char	*store_spec;
	const char	*replica_id;
	/* --console-config FILE: the console's configuration the
	 * compliance facts read (NULL: CONSOLE_CONF_DEFAULT) */
	const char	*console_config;
};

struct bwd_state {
	char			 data_dir[4096];
	char			 pid_path[4096];
	struct store		*store;
	struct audit_signer	*signer;
	struct audit_trail	*trail;
	SSL_CTX			*ssl_ctx;
	struct pki_revoked	*revoked;
	struct committer	*commit;
	struct controller	*ctl;	/* while this replica leads */
	struct controller	**retired;	/* detached, freed once idle */
	size_t			 n_retired;
	struct event		*reap_ev;	/* looks for idle retired ones */
	struct ha		*ha;
	struct event_base	*base;
	struct controller_options ctl_opts;
	int			 lead_error;	/* of the last start of ctl */
	char			 replica_id[128];
	struct principals	 principals;
	struct image_api	 images;
	int			 images_open;
	struct compliance_api	 comp;
	int			 comp_open;
	struct waiver_api	 waivers;
	int			 waivers_open;
	struct logs_api		 logs;		/* freed with the API server */
	struct api_server	*api;
	struct identity		*identity;
	struct enrol		*enrol;
	struct pki_init_options	 pki_opts;	/* server names for renewal */
	struct certrenew	*renew;
	struct ccred		*console;	/* the console's socket */
	struct psp		*psp;		/* --privsep: the API worker */
};

void bwd_config_defaults(struct bwd_config *cfg);
int bwd_parse_log_level(const char *s, enum log_level *ret);

/* Creates or opens everything CFG names and starts serving on BASE.
 * On failure the parts already opened stay in ST for bwd_close(). */
int bwd_open(const struct bwd_config *cfg, struct event_base *base,
    struct bwd_state *st, char **ret_err);

/* Stops serving and closes every part in reverse order. */
void bwd_close(struct bwd_state *st);

#endif

/* bulwarkd's compliance engine endpoints: scans of the live appliance
 * against a FedRAMP baseline, with the facts only the daemon knows (TLS
 * policy, FIPS status, audit health, ...), stored with history and
 * recorded in the audit trail; OSCAL assessment results and POA&M of the
 * latest scan. Scans also run on a timer and after configuration
 * changes.
 *   POST /v1/compliance/scans    {"baseline": "low"|"moderate"|"high"}
 *   GET  /v1/compliance/results?format=summary|oscal|oscal-poam
 *   GET  /v1/compliance/evidence?since=T&until=T[&refuse_stale=1]
 *        (a signed tar bundle of the latest recorded scan)
 *   GET  /v1/compliance/conmon?month=YYYY-MM   (the monthly continuous-
 *        monitoring package, signed like a bundle)
 * system-admin and security-auditor may run scans and read results; only
 * the security-auditor exports evidence and ConMon packages. */
#ifndef BW_COMPLIANCE_API_H
#define BW_COMPLIANCE_API_H

#include <limits.h>
#include <time.h>

#include <event2/event.h>

#include "compliance/audit-facts.h"
#include "compliance/catalog.h"
#include "compliance/check.h"
#include "controlplane/api.h"
#include "controlplane/authz.h"

#define COMPLIANCE_SCAN_INTERVAL_S	3600
#define COMPLIANCE_CHANGE_DELAY_S	60	/* scan this long after changes settle */
#define COMPLIANCE_KEY_PREFIX		"/x/compliance/scans/"

struct audit_trail;
struct audit_signer;
struct evidence_tpm_ops;
struct store;

struct compliance_api {
	char			 data_dir[PATH_MAX];
	char			 appliance_dir[PATH_MAX];	/* bulwarkd --data-dir */
	char			 audit_dir[PATH_MAX];
	char			 root[PATH_MAX];		/* host root checked */
	/* The privileged collector's socket (bulwark-collect(8)):
	 * $BULWARK_COLLECT_SOCKET, else COMP_COLLECT_SOCKET. Asked when
	 * something is there. */
	char			 collect_socket[108];
	struct comp_catalog	*cat;
	struct comp_baseline	*base[3];			/* low, moderate, high */
	struct audit_trail	*trail;
	struct api_server	*srv;
	struct event		*timer;
	struct event		*change_timer;	/* one-shot after changes */
	uint64_t		 scanned_rev;	/* store revision of the last scan record */
	bool			 fips;
	unsigned long long	 scans;
	const struct audit_signer *signer;	/* signs evidence manifests */
	char			 ssp_path[PATH_MAX];
	/* The console's configuration file (bulwarkd --console-config;
	 * compliance_api_init() sets CONSOLE_CONF_DEFAULT, the console's
	 * own default), read at each scan for the AC-11 and IA-11 facts. */
	char			 console_conf[PATH_MAX];
	/* The appliance's own TPM dictionary-attack state
	 * (identity_tpm_lockout_json()); NULL: none to report. */
	json_t			*(*tpm_lockout)(void *arg);
	void			*tpm_lockout_arg;
	/* bulwarkd --privsep: the API worker's pid now (0: none running),
	 * whose /proc status the SC-2 and SC-39 facts read too; NULL: one
	 * process. */
	pid_t			(*worker_pid)(void *arg);
	void			*worker_arg;
	/* The spawner that starts that worker (privsep/spawner.h), whose
	 * /proc status the SC-39 and AC-6 facts read too; 0: none. */
	pid_t			 spawner_pid;
	/* Evidence cadence: compliance.cadence_seconds of the configuration
	 * bulwarkd measured at start (identity_settings()); the caller sets
	 * it after compliance_api_init(), which sets COMP_CADENCE_DEFAULT_S. */
	long			 cadence_s;
	/* Every checkpoint key the trail held when bulwarkd opened it (its
	 * checkpoint-key.pem then, written by the trail; the signer's key
	 * first), for the scan's and the ConMon attestation's verification
	 * after a key change: neither takes the key file as it is later,
	 * which whoever rewrites the trail can replace too. */
	EVP_PKEY		**trail_keys;
	size_t			 n_trail_keys;
	/* The store key of the latest recorded scan of each baseline, kept
	 * by each committed scan; "" until known (then the store is read
	 * once). */
	char			 latest_key[3][96];
	/* The appliance's TPM, which quotes every evidence bundle
	 * (identity_evidence_tpm()); NULL: bundles carry no quote. */
	const struct evidence_tpm_ops *tpm;
	/* The audit trail's verification (gather_facts()): where the last
	 * committed scan's stopped, so the next verifies only the records
	 * after it; the latest measurement, which the facts point into. */
	struct audit_verify_mark audit_mark;
	bool			 audit_mark_loaded;
	struct comp_audit_facts	 audit_facts;
	/* The last recorded scan's per-family summary, for /metrics (read
	 * from the store once when no scan ran since start). */
	json_t			*last_families;
};

/* Prepares the engine (the catalog loads on the first scan). ROOT is the
 * host root to inspect ("/"). Returns 0 or a negative error. */
int compliance_api_init(struct compliance_api *ca, struct event_base *base,
    struct api_server *srv, struct audit_trail *trail, const char *data_dir,
    const char *appliance_dir, const char *root, bool fips,
    const struct audit_signer *signer, char **ret_err);

/* The console's facts (AC-11, AC-11(1), IA-11) into F, from the
 * console configuration at PATH read with the console's own parser
 * (console_conf_load_trusted()): idle_lock_s and lock_conceals, the
 * values the next console session uses, and token_lifetime_s, its
 * session_max, the longest session certificate bulwarkd issues the
 * console (ccred_lifetime_max() reads the file the same way). A missing file (at any path, the default one
 * too), one not regular, not root's or writable by group or others, or
 * one the parser refuses leaves them unknown. Never logs. */
void compliance_facts_console(const char *path, struct comp_facts *f);

/* CM-2(3) into F (config_revisions): how many changes to the stored
 * configuration (the /r/ objects of kinds people write, their status
 * left out) ST's change log holds with the object's previous version
 * also held there (an earlier change to the same object), so that
 * version can be read back; and config_history_whole, whether the log
 * still starts at the store's first revision (nothing compacted away),
 * unknown when the horizon cannot be read; config_retention, the
 * changes the log keeps (store_history_revisions()). A store that cannot
 * be read leaves them unknown. */
void compliance_facts_config_history(struct store *st, struct comp_facts *f);

/* The SSP JSON: $BULWARK_COMPLIANCE_SSP when set (the test harness
 * points it at docs/ssp/), else the installed copy under BW_DATADIR.
 * Never the build tree. Static storage. */
const char *compliance_ssp_path(void);
/* Unhooks from the commit pipeline and stops the timers; call before
 * the API server and the committer go away. Scans in flight complete. */
void compliance_api_detach(struct compliance_api *ca);
void compliance_api_done(struct compliance_api *ca);

/* Appends bulwark_compliance_checks{verdict,family}, the last scan's
 * time and the promised cadence (cadence_s) to B (/metrics). Loop
 * thread. */
struct bw_buf;
void compliance_api_render_metrics(struct compliance_api *ca,
    struct bw_buf *b);

/* Scans again at once, on the loop (a waiver was approved or expired);
 * ARG is the compliance_api. */
void compliance_api_rescan(void *arg);

/* api_handler_fn for "/v1/compliance/"; ARG is the compliance_api. */
void compliance_api_handle(struct api_server *srv, struct evhttp_request *req,
    const struct authz_identity *id, const char *path, void *arg);

#endif

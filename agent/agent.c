/* bulwark-agent: a node's TPM identity. Enrols with a single-use
 * bootstrap credential (EK, AK, credential activation, quote over a
 * server nonce), then re-attests on a timer over mutual TLS whose key
 * never leaves the TPM (tpm2-openssl provider). See docs/identity.md. */
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
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "agent/agent-run.h"
#include "agent/agent-tls.h"
#include "agent/runtime.h"
#include "agent/volume.h"
#include "client/client.h"
#include "hardening/crypto-policy.h"
#include "identity/attest.h"
#include "identity/tpm.h"
#include "lib/b64.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/logcap.h"
#include "lib/macro.h"
#include "lib/opt-help.h"

#define AGENT_DEFAULT_STATE	"/var/lib/bulwark-agent"
#define AGENT_DEFAULT_TCTI	"device:/dev/tpmrm0"
#define AGENT_BOOTSTRAP_MAX	(64 * 1024)

struct agent {
	const char	*tcti;
	const char	*state_dir;
	const char	*server;	/* --server, else from agent.json */
	const char	*bootstrap;
	unsigned	 interval;	/* 0: what the server says */
	unsigned	 wait;		/* seconds to wait for approval */
	int		 once;
	unsigned	 repeat;	/* request: times to send it (1) */
	struct agent_run_config run;	/* workloads: with --image-store */
	char		 node[64];
	char		 server_buf[512];
	char		 cert_path[PATH_MAX], ca_path[PATH_MAX], conf_path[PATH_MAX];
};

static volatile sig_atomic_t stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static const char usage_text[] =
"Usage: bulwark-agent [run] [OPTIONS]\n"
"       bulwark-agent quote --tpm TCTI --nonce BASE64 [--pcrs LIST]\n"
"       bulwark-agent request [OPTIONS] [--repeat N] METHOD PATH [BODY]\n"
"       bulwark-agent tpm-status --tpm TCTI\n"
"       bulwark-agent tpm-shutdown --tpm TCTI\n"
"       bulwark-agent stop-instances [--state-dir DIR] [--run-dir DIR]\n"
"                     [--cgroup-parent N] [--stop-grace SECS]\n"
"\n"
"run (default): enrol this node with --bootstrap FILE when it has no node\n"
"certificate yet, then re-attest every interval: a quote over a fresh\n"
"server nonce, sent over mutual TLS with the node's TPM-resident key.\n"
"quote: print a quote of this TPM's AK over NONCE (diagnostics).\n"
"request: one HTTPS request with the node's identity (diagnostics);\n"
"--repeat N sends it N times on one connection (1..100000) and prints the\n"
"last answer, with the count of 2xx answers on standard error.\n"
"tpm-status: the TPM's dictionary-attack lockout state and whether the\n"
"node's keys carry noDA (JSON; works while the TPM is in lockout).\n"
"tpm-shutdown: TPM2_Shutdown(STATE), for whoever stops a software TPM\n"
"(no other client may be connected), so its next start is orderly.\n"
"stop-instances: with the agent stopped, stops every instance on this\n"
"node at once (one stop grace for all); they stay, exited, and the agent\n"
"started again handles their exits by their restart policies.\n"
"\n"
"Options:\n";

static const struct opt_help options[] = {
	{ "tpm", 't', "TCTI", "TPM (default " AGENT_DEFAULT_TCTI ")" },
	{ "state-dir", 's', "DIR", "node state: certificate, CA, agent.json; "
	  "never a private key (default " AGENT_DEFAULT_STATE ")" },
	{ "server", 'S', "URL", "control plane, https://HOST:PORT" },
	{ "bootstrap", 'b', "FILE", "bootstrap credential from `bulwark node "
	  "bootstrap` (JSON); wiped and removed after enrolment" },
	{ "interval", 'i', "SECS", "re-attestation period (default: the "
	  "server's)" },
	{ "wait", 'w', "SECS", "how long to wait for an admin's approval "
	  "(600)" },
	{ "once", 'o', NULL, "attest once and exit (exit 0 when Trusted)" },
	{ "nonce", 'n', "BASE64", "quote: the nonce to quote over" },
	{ "pcrs", 'p', "LIST", "quote: the PCRs to quote" },
	{ "repeat", 'r', "N", "request: send it N times (1..100000)" },
	{ "image-store", 'I', "DIR", "run the workloads bound to this node, "
	  "with images from DIR (bulwarkd's DATA_DIR/images when all-in-one); "
	  "without it the agent only attests" },
	{ "run-dir", 'R', "DIR", "runtime sockets and crun state "
	  "(/run/bulwark)" },
	{ "cgroup-parent", 'G', "N", "cgroup below which instances run "
	  "(bulwark)" },
	{ "stop-grace", 'g', "SECS", "time a stopping instance gets before "
	  "SIGKILL (10)" },
	{ "cpu-interval", 'u', "SECS", "CPU usage report period of the "
	  "instances of autoscaled workloads (15)" },
	{ "log-max-bytes", 'l', "N", "output an instance keeps on the node "
	  "when its workload sets no log_max_bytes (10485760)" },
	{ "vm-kernel", 'K', "FILE", "boot VM workloads with this kernel (their "
	  "disk image attached as virtio disk); default: boot the disk" },
	{ "vm-initrd", 'N', "FILE", "initrd for --vm-kernel" },
	{ "vm-cmdline", 'C', "TEXT", "kernel command line for --vm-kernel" },
	{ "log-level", 'L', "LEVEL", "debug, info, warn or error" },
	{ "help", 'h', NULL, "show this help (also -h)" },
};

static void
usage(FILE *f)
{
	fputs(usage_text, f);
	opt_help_print(f, options, ELEMENTSOF(options));
}

static int
state_paths(struct agent *a)
{
	if (snprintf(a->cert_path, sizeof(a->cert_path), "%s/node.crt",
	    a->state_dir) >= (int)sizeof(a->cert_path) ||
	    snprintf(a->ca_path, sizeof(a->ca_path), "%s/ca.crt",
	    a->state_dir) >= (int)sizeof(a->ca_path) ||
	    snprintf(a->conf_path, sizeof(a->conf_path), "%s/agent.json",
	    a->state_dir) >= (int)sizeof(a->conf_path))
		return -ENAMETOOLONG;
	return 0;
}

static int
state_load(struct agent *a)
{
	_cleanup_free_ char	*text = NULL;
	_cleanup_json_ json_t	*o = NULL;
	size_t			 len;
	int			 r;

	if ((r = read_file_at(AT_FDCWD, a->conf_path, 64 * 1024, &text,
	    &len)) < 0)
		return r;
	if ((r = json_parse_bounded(text, len, 4, &o, NULL)) < 0 ||
	    !json_string_value(json_object_get(o, "node")) ||
	    !json_string_value(json_object_get(o, "server")))
		return -BW_E_CORRUPT;
	snprintf(a->node, sizeof(a->node), "%s",
	    json_string_value(json_object_get(o, "node")));
	snprintf(a->server_buf, sizeof(a->server_buf), "%s",
	    json_string_value(json_object_get(o, "server")));
	if (!a->server)
		a->server = a->server_buf;
	return 0;
}

static int
write_text(const char *path, const char *text, mode_t mode)
{
	return write_file_atomic_at(AT_FDCWD, path, text, strlen(text), mode);
}

/* Overwrites then removes the bootstrap file: it held a private key. */
static void
bootstrap_wipe(const char *path, size_t len)
{
	_cleanup_close_ int	 fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	char			 zero[4096] = { 0 };
	size_t			 off;

	for (off = 0; fd >= 0 && off < len; off += sizeof(zero))
		if (write(fd, zero, len - off < sizeof(zero) ? len - off :
		    sizeof(zero)) < 0)
			break;
	if (fd >= 0)
		(void)fsync(fd);
	if (unlink(path) < 0)
		log_warn("cannot remove the used bootstrap credential %s: %m",
		    path);
}

static long
capacity_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	return pages > 0 && psize > 0 ? (long)((long long)pages * psize >> 20) :
	    1024;
}

/* Sends a POST with the bootstrap credential and parses the reply. */
static int
post_json(struct agent_tls *t, const char *server, const char *path,
    json_t *body, int *ret_status, json_t **ret_reply, char **ret_err)
{
	_cleanup_free_ char	*text = NULL, *reply = NULL;
	int			 r;

	if (!(text = json_dumps(body, JSON_COMPACT)))
		return -ENOMEM;
	if ((r = agent_https(t, server, "POST", path, text, ret_status, &reply,
	    ret_err)) < 0)
		return r;
	*ret_reply = json_loads(reply, 0, NULL);
	if (!json_is_object(*ret_reply)) {
		json_decref(*ret_reply);
		*ret_reply = NULL;
		return errf(-BW_E_INVALID, ret_err, "%s: HTTP %d, not JSON", path,
		    *ret_status);
	}
	return 0;
}

/* ---- the TPM's dictionary-attack state ---- */

/* The node keys this agent uses: all must carry noDA (docs/identity.md). */
static const struct {
	uint32_t	 handle;
	const char	*name;
} node_keys[] = {
	{ TPM_AK_HANDLE_DEFAULT, "AK" },
	{ AGENT_TLS_KEY_HANDLE, "TLS key" },
};

/* Names the node keys made without noDA by an older agent into BUF
 * ("AK 0x81010100, TLS key 0x81000102"). Returns how many, or a
 * negative error. */
static int
legacy_keys(struct tpm *tpm, char *buf, size_t len, char **ret_err)
{
	size_t	i, off = 0;
	int	n = 0, r;

	buf[0] = '\0';
	for (i = 0; i < ELEMENTSOF(node_keys); i++) {
		if ((r = tpm_key_da_protected(tpm, node_keys[i].handle,
		    ret_err)) < 0)
			return r;
		if (r == 0)
			continue;
		off += snprintf(buf + off, off < len ? len - off : 0, "%s%s "
		    "0x%08x", n ? ", " : "", node_keys[i].name,
		    node_keys[i].handle);
		n++;
	}
	return n;
}

/* Logs the TPM's lockout state and any node key still exposed to it,
 * with what to do. Never fails the agent: a key in lockout fails the
 * requests that use it, with the TPM's own message. */
static void
tpm_report_state(struct agent *a, struct tpm *tpm)
{
	_cleanup_free_ char	*err = NULL;
	struct tpm_da_status	 da;
	char			 what[256], keys[128];
	int			 n;

	if (tpm_da_status(tpm, &da, &err) < 0) {
		log_warn("TPM %s: %s", a->tcti, err);
		return;
	}
	tpm_da_status_describe(&da, what, sizeof(what));
	if (da.in_lockout)
		log_error("TPM %s: %s", a->tcti, what);
	else if (da.counter > 0)
		log_warn("TPM %s: %s; the node's keys carry noDA and are not "
		    "affected", a->tcti, what);
	if ((n = legacy_keys(tpm, keys, sizeof(keys), &err)) > 0)
		log_error("TPM %s: the node's %s %s made without noDA by an "
		    "older bulwark-agent: every unclean stop of this TPM "
		    "counts toward dictionary-attack lockout, which then "
		    "refuses %s. Re-enrol the node to replace them: "
		    "`bulwark delete node %s`, `bulwark node bootstrap %s -o "
		    "FILE`, stop the agent, remove %s/node.crt and "
		    "%s/agent.json, start it with --bootstrap FILE (enrolment "
		    "replaces the keys) and `bulwark node approve %s` "
		    "(scripts/up does this by itself)", a->tcti, keys,
		    n > 1 ? "were" : "was", n > 1 ? "them" : "it", a->node,
		    a->node, a->state_dir, a->state_dir, a->node);
	else if (n < 0)
		log_warn("TPM %s: %s", a->tcti, err);
}

/* Re-enrolment: keys without noDA from an older agent are evicted, so
 * the new identity is made of keys that unclean stops cannot lock. */
static int
replace_legacy_keys(struct agent *a, struct tpm *tpm, char **ret_err)
{
	size_t	i;
	int	r;

	for (i = 0; i < ELEMENTSOF(node_keys); i++) {
		if ((r = tpm_key_da_protected(tpm, node_keys[i].handle,
		    ret_err)) <= 0) {
			if (r < 0)
				return r;
			continue;
		}
		if ((r = tpm_evict(tpm, node_keys[i].handle, ret_err)) < 0)
			return r;
		log_info("node %s: replaced the %s at 0x%08x, made without "
		    "noDA by an older bulwark-agent", a->node,
		    node_keys[i].name, node_keys[i].handle);
	}
	return 0;
}

/* ---- enrolment ---- */

static int
enrol_once(struct agent *a, struct tpm *tpm, struct agent_tls *bt,
    const char *ek_b64, const char *ak_b64, const char *tls_pub,
    json_t **ret_reply, int *ret_status, char **ret_err)
{
	_cleanup_json_ json_t		*req = NULL, *rep = NULL, *done = NULL;
	_cleanup_free_ unsigned char	*cred = NULL, *nonce = NULL;
	_cleanup_free_ unsigned char	*quote = NULL;
	_cleanup_free_ char		*chal_b64 = NULL, *q_b64 = NULL;
	unsigned char			*secret = NULL, qdata[32];
	size_t				 clen, nlen, slen, qlen;
	uint32_t			 mask;
	int				 status, r;

	req = json_pack("{s:s, s:s, s:s, s:s, s:{s:I, s:I, s:i}}", "node",
	    a->node, "ek_pub", ek_b64, "ak_pub", ak_b64, "tls_pub", tls_pub,
	    "capacity", "cpu_millis", (json_int_t)(sysconf(_SC_NPROCESSORS_ONLN)
	    * 1000), "memory_mib", (json_int_t)capacity_mib(), "instances", 110);
	if (!req)
		return -ENOMEM;
	if ((r = post_json(bt, a->server, "/v1/enrol/begin", req, &status,
	    &rep, ret_err)) < 0)
		return r;
	if (status != 200)
		return errf(-BW_E_DENIED, ret_err, "enrolment refused (HTTP %d): "
		    "%s", status, client_error_message(rep, "(no message)"));
	if (b64_decode(json_string_value(json_object_get(rep, "credential")),
	    ATTEST_BLOB_MAX, &cred, &clen) < 0 ||
	    b64_decode(json_string_value(json_object_get(rep, "nonce")),
	    ATTEST_NONCE_MAX, &nonce, &nlen) < 0 ||
	    attest_pcr_mask_parse(json_string_value(json_object_get(rep,
	    "quote_pcrs")) ?: "", &mask, NULL) < 0)
		return errf(-BW_E_INVALID, ret_err, "malformed /v1/enrol/begin "
		    "reply");
	/* Only the TPM holding the EK and the AK can recover the secret. */
	if ((r = tpm_activate_credential(tpm, TPM_AK_HANDLE_DEFAULT, cred, clen,
	    &secret, &slen, ret_err)) < 0)
		return r;
	r = b64_encode(secret, slen, &chal_b64);
	tpm_secret_free(secret, slen);
	if (r < 0)
		return r;
	if ((r = attest_qualifying_data(nonce, nlen, tls_pub, qdata)) < 0 ||
	    (r = tpm_quote(tpm, TPM_AK_HANDLE_DEFAULT, mask, qdata,
	    sizeof(qdata), &quote, &qlen, ret_err)) < 0 ||
	    (r = b64_encode(quote, qlen, &q_b64)) < 0)
		return r;
	json_decref(req);
	req = json_pack("{s:s, s:s, s:s}", "session", json_string_value(
	    json_object_get(rep, "session")) ?: "", "challenge", chal_b64,
	    "quote", q_b64);
	if (!req)
		return -ENOMEM;
	if ((r = post_json(bt, a->server, "/v1/enrol/complete", req, &status,
	    &done, ret_err)) < 0)
		return r;
	*ret_status = status;
	*ret_reply = TAKE_PTR(done);
	return 0;
}

static int
agent_enrol(struct agent *a, char **ret_err)
{
	_cleanup_free_ char		*btext = NULL, *ek_b64 = NULL;
	_cleanup_free_ char		*ak_b64 = NULL, *tls_pub = NULL;
	_cleanup_free_ unsigned char	*ek = NULL, *ak = NULL;
	_cleanup_json_ json_t		*boot = NULL, *conf = NULL;
	_cleanup_(tpm_closep) struct tpm *tpm = NULL;
	struct tpm_signer		*tls_key = NULL;
	struct agent_tls		*bt = NULL;
	const char			*cert, *key, *ca, *node;
	size_t				 blen, eklen, aklen;
	time_t				 deadline;
	int				 r, status;

	if (!a->bootstrap)
		return errf(-BW_E_INVALID, ret_err, "not enrolled yet (%s "
		    "missing): pass --bootstrap FILE", a->cert_path);
	if (!a->server)
		return errf(-BW_E_INVALID, ret_err, "--server is required to "
		    "enrol");
	if ((r = read_file_at(AT_FDCWD, a->bootstrap, AGENT_BOOTSTRAP_MAX,
	    &btext, &blen)) < 0)
		return errf(r, ret_err, "%s: %s", a->bootstrap, bw_strerror(r));
	if (json_parse_bounded(btext, blen, 4, &boot, NULL) < 0 ||
	    !(node = json_string_value(json_object_get(boot, "node"))) ||
	    !(cert = json_string_value(json_object_get(boot, "certificate"))) ||
	    !(key = json_string_value(json_object_get(boot, "key"))) ||
	    !(ca = json_string_value(json_object_get(boot, "ca"))))
		return errf(-BW_E_INVALID, ret_err, "%s: not a bootstrap "
		    "credential (node, certificate, key, ca)", a->bootstrap);
	snprintf(a->node, sizeof(a->node), "%s", node);
	if ((r = agent_tls_open_pem(cert, key, ca, &bt, ret_err)) < 0)
		return r;
	/* The TPM identity: AK (created on first use), EK, and the TLS key,
	 * a persistent signing key that never leaves the TPM. */
	if ((r = tpm_open(a->tcti, &tpm, ret_err)) < 0 ||
	    (r = replace_legacy_keys(a, tpm, ret_err)) < 0 ||
	    (r = tpm_ak_ensure(tpm, TPM_AK_HANDLE_DEFAULT, &ak, &aklen,
	    ret_err)) < 0 ||
	    (r = tpm_ek_public(tpm, &ek, &eklen, ret_err)) < 0 ||
	    (r = tpm_signer_open(tpm, AGENT_TLS_KEY_HANDLE, &tls_key,
	    ret_err)) < 0 ||
	    (r = tpm_signer_public_pem(tls_key, &tls_pub, ret_err)) < 0 ||
	    (r = b64_encode(ek, eklen, &ek_b64)) < 0 ||
	    (r = b64_encode(ak, aklen, &ak_b64)) < 0)
		goto out;
	deadline = time(NULL) + a->wait;
	for (;;) {
		_cleanup_json_ json_t *rep = NULL;

		if ((r = enrol_once(a, tpm, bt, ek_b64, ak_b64, tls_pub, &rep,
		    &status, ret_err)) < 0)
			goto out;
		if (status == 200)  {
			const char *nc = json_string_value(json_object_get(rep,
			    "certificate"));
			const char *nca = json_string_value(json_object_get(rep,
			    "ca"));

			if (!nc || !nca) {
				r = errf(-BW_E_INVALID, ret_err, "enrolment "
				    "reply without a certificate");
				goto out;
			}
			if ((r = write_text(a->cert_path, nc, 0644)) < 0 ||
			    (r = write_text(a->ca_path, nca, 0644)) < 0) {
				r = errf(r, ret_err, "cannot write %s: %s",
				    a->state_dir, bw_strerror(r));
				goto out;
			}
			break;
		}
		if (status != 202) {
			r = errf(-BW_E_DENIED, ret_err, "enrolment refused (HTTP "
			    "%d): %s", status, client_error_message(rep, "(no message)"));
			goto out;
		}
		if (time(NULL) >= deadline || stopping) {
			r = errf(-ETIMEDOUT, ret_err, "no administrator approved "
			    "node %s within %u s", a->node, a->wait);
			goto out;
		}
		log_info("node %s: %s", a->node, json_string_value(
		    json_object_get(rep, "message")) ?: "pending");
		sleep(1);
	}
	conf = json_pack("{s:s, s:s, s:s}", "node", a->node, "server",
	    a->server, "tls_key_handle", "0x81000102");
	{
		_cleanup_free_ char *s = conf ? json_dumps(conf, JSON_INDENT(2)) :
		    NULL;

		if (!s || (r = write_text(a->conf_path, s, 0644)) < 0) {
			r = errf(s ? r : -ENOMEM, ret_err, "cannot write %s",
			    a->conf_path);
			goto out;
		}
	}
	OPENSSL_cleanse(btext, blen);
	bootstrap_wipe(a->bootstrap, blen);
	log_info("node %s enrolled: certificate in %s, key in the TPM at "
	    "0x%08x", a->node, a->cert_path, AGENT_TLS_KEY_HANDLE);
	r = 0;
out:
	if (btext)
		OPENSSL_cleanse(btext, blen);
	tpm_signer_free(tls_key);
	agent_tls_close(bt);
	return r;
}

/* ---- re-attestation ---- */

/* One request with the node's TPM-held key; the provider's TPM
 * connection is closed again before returning. */
static int
node_post(struct agent *a, const char *path, json_t *body, int *ret_status,
    json_t **ret_reply, char **ret_err)
{
	struct agent_tls	*t = NULL;
	int			 r;

	if ((r = agent_tls_open_tpm(a->tcti, AGENT_TLS_KEY_HANDLE,
	    a->cert_path, a->ca_path, &t, ret_err)) < 0)
		return r;
	r = post_json(t, a->server, path, body, ret_status, ret_reply, ret_err);
	agent_tls_close(t);
	return r;
}

/* 1 Trusted, 0 refused (the node is Untrusted), or a negative error. */
static int
attest_once(struct agent *a, unsigned *ret_interval, char **ret_err)
{
	_cleanup_json_ json_t		*empty = json_object(), *rep = NULL;
	_cleanup_json_ json_t		*body = NULL, *res = NULL;
	_cleanup_free_ unsigned char	*nonce = NULL, *quote = NULL;
	_cleanup_free_ char		*q_b64 = NULL;
	_cleanup_json_ json_t		*lockout = NULL;
	struct tpm			*tpm = NULL;
	struct tpm_da_status		 da;
	const char			*cert;
	size_t				 nlen, qlen;
	uint32_t			 mask;
	int				 status, r;

	if (!empty)
		return -ENOMEM;
	if ((r = node_post(a, "/v1/attest/nonce", empty, &status, &rep,
	    ret_err)) < 0)
		return r;
	if (status != 200)
		return errf(-BW_E_DENIED, ret_err, "nonce refused (HTTP %d): %s",
		    status, client_error_message(rep, "(no message)"));
	if (b64_decode(json_string_value(json_object_get(rep, "nonce")),
	    ATTEST_NONCE_MAX, &nonce, &nlen) < 0 ||
	    attest_pcr_mask_parse(json_string_value(json_object_get(rep,
	    "quote_pcrs")) ?: "", &mask, NULL) < 0)
		return errf(-BW_E_INVALID, ret_err, "malformed nonce reply");
	if (json_integer_value(json_object_get(rep, "interval_seconds")) > 0)
		*ret_interval = (unsigned)json_integer_value(json_object_get(rep,
		    "interval_seconds"));
	r = tpm_open(a->tcti, &tpm, ret_err);
	if (r == 0)
		r = tpm_quote(tpm, TPM_AK_HANDLE_DEFAULT, mask, nonce, nlen,
		    &quote, &qlen, ret_err);
	/* The TPM's lockout state goes with every quote (node status). */
	if (r == 0 && tpm_da_status(tpm, &da, NULL) == 0)
		lockout = tpm_da_status_json(&da, (long long)time(NULL));
	tpm_close(tpm);
	if (r < 0 || (r = b64_encode(quote, qlen, &q_b64)) < 0)
		return r;
	if (!(body = json_pack("{s:s, s:s, s:o*}", "nonce", json_string_value(
	    json_object_get(rep, "nonce")), "quote", q_b64, "tpm_lockout",
	    TAKE_PTR(lockout))))
		return -ENOMEM;
	if ((r = node_post(a, "/v1/attest/quote", body, &status, &res,
	    ret_err)) < 0)
		return r;
	if (status != 200) {
		errf(0, ret_err, "%s", client_error_message(res, "(no message)"));
		return 0;
	}
	if ((cert = json_string_value(json_object_get(res, "certificate")))) {
		if ((r = write_text(a->cert_path, cert, 0644)) < 0)
			return errf(r, ret_err, "cannot write %s", a->cert_path);
		log_info("node certificate renewed");
	}
	return 1;
}

/* The workload loop's transport: requests with the node's TPM-held key
 * on one kept-alive connection: each handshake costs a TPM signature,
 * and with swtpm (no resource manager) a second handshake while another
 * connection lives fails with "out of memory for object contexts". The TLS context (and with it the provider's TPM
 * connection) stays open until attestation needs the TPM (swtpm serves
 * one connection). */
struct agent_http {
	struct agent		*a;
	struct agent_tls	*t;
};

static int
agent_http_ctx(struct agent_http *h, char **ret_err)
{
	if (h->t)
		return 0;
	return agent_tls_open_tpm(h->a->tcti, AGENT_TLS_KEY_HANDLE,
	    h->a->cert_path, h->a->ca_path, &h->t, ret_err);
}

static int
agent_http(void *ctx, const char *method, const char *path, const char *body,
    int *ret_status, char **ret_body, char **ret_err)
{
	struct agent_http	*h = ctx;
	int			 r;

	if ((r = agent_http_ctx(h, ret_err)) < 0)
		return r;
	return agent_https(h->t, h->a->server, method, path, body, ret_status,
	    ret_body, ret_err);
}

static void
agent_http_close(struct agent_http *h)
{
	agent_tls_close(h->t);
	h->t = NULL;
}

/* Pushes the instance logs readers ask for: every push period until
 * the next local second while some are asked for (new lines reach a
 * reader within about a period), else once. Returns whether some are. */
static bool
logs_follow(struct agent_http *h, struct agent_run *ar, int64_t last_pass_ms,
    bool *failed)
{
	_cleanup_free_ char	*err = NULL;
	unsigned		 period = 0;
	int			 r = 0;

	do {
		if (period > 0) {
			int64_t left = 1000 - (bw_mono_ms() - last_pass_ms);
			struct timespec ts;

			if (left <= 0 || stopping)
				break;
			if ((int64_t)period > left)
				period = (unsigned)left;
			ts = (struct timespec){ period / 1000,
			    (long)(period % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		free(err);
		err = NULL;
		if ((r = agent_run_logs(ar, agent_http, h, &period, &err)) < 0)
			log_debug("log push: %s", err ? err : bw_strerror(r));
	} while (r > 0);
	*failed = r < 0;
	return period > 0 && r > 0;
}

/* failed log exchanges in a row tried again before the node waits to be
 * woken (by a reader's new request or the resync) */
#define AGENT_LOGS_RETRIES	3

/* What an idle agent does between passes (docs/architecture.md, "An
 * idle agent's requests"). */
struct agent_idle {
	int64_t		 next_resync;	/* bw_mono_ms() of the next full pass */
	int64_t		 next_attest;	/* bw_mono_ms() of the next quote */
	unsigned	 what;		/* what the next pass reads (AGENT_RUN_*) */
	bool		 logs_due;	/* exchange the log wants next */
	bool		 logs_read;	/* some log was asked for at the last */
	unsigned	 logs_failed;	/* exchanges failed in a row */
	bool		 no_watch;	/* a pass or a poll failed: none until the resync */
};

static void
sleep_ms(long ms)
{
	for (; ms > 0 && !stopping; ms -= 100) {
		struct timespec ts = { 0, (ms < 100 ? ms : 100) * 1000000L };

		nanosleep(&ts, NULL);
	}
}

/* Waits until the next pass is due, with one long poll of the node's
 * watch (every kind the node may read; on the pass's kept-alive
 * connection: no second handshake, no second TPM signature): until a
 * change, until the server ends it for a log reader (an empty answer
 * before its time), or until the next local second while instances run
 * here (their exits and probes are noticed by passes), else until the
 * resync. A refused or failed poll waits for the resync (the local
 * seconds go on), never polls again at once. While a log is read the
 * agent pushes it every push period and reads what changed each
 * second, as before the watch (docs/workloads.md, "Logs"). */
static void
wait_for_change(struct agent_http *h, struct agent_run *ar,
    int64_t last_pass_ms, struct agent_idle *st)
{
	_cleanup_free_ char	*err = NULL, *body = NULL;
	char			 path[128];
	int64_t			 t0, now;
	long			 ms, second;
	int			 status = 0;

	if (!st->no_watch && (st->logs_due || st->logs_read)) {
		bool failed;

		st->logs_due = false;
		st->logs_read = logs_follow(h, ar, last_pass_ms, &failed);
		/* A failed exchange is tried again the next second, a few
		 * times in a row: a reader that still follows its log does
		 * not wake the node again (the server ends a poll for a new
		 * request only), and would get no line until the resync. */
		if (!failed)
			st->logs_failed = 0;
		else if (st->logs_failed++ < AGENT_LOGS_RETRIES)
			st->logs_read = true;
		else
			st->logs_failed = 0;
		if (st->logs_read) {
			st->what |= AGENT_RUN_LIST | AGENT_RUN_SNAPSHOTS;
			return;
		}
	}
	now = bw_mono_ms();
	second = 1000 - (now - last_pass_ms);
	ms = (long)((st->next_resync < st->next_attest ? st->next_resync :
	    st->next_attest) - now);
	if (agent_run_count(ar) > 0 && second < ms)
		ms = second;
	if (ms <= 0 || stopping)
		return;
	if (agent_run_revision(ar) == 0 || st->no_watch) {
		/* No list yet, or a pass or a poll failed: no watch until
		 * the resync (the local seconds go on). */
		sleep_ms(ms);
		return;
	}
	snprintf(path, sizeof(path), "/v1/watch?since=%llu&poll=%ld",
	    agent_run_revision(ar), ms);
	t0 = bw_mono_ms();
	if (agent_http(h, "GET", path, NULL, &status, &body, &err) < 0 ||
	    status != 200) {
		/* 429 (the server's watches are full), 503, an older server:
		 * the resync lists everything; nothing polls before it. */
		log_debug("long poll: %s", err ? err : body ? body :
		    "no answer");
		st->no_watch = true;
		sleep_ms(ms - (long)(bw_mono_ms() - t0));
		return;
	}
	if (body && *body)
		st->what |= agent_run_watched(ar, body, strlen(body));
	else if (bw_mono_ms() - t0 < ms - 50)
		/* Ended empty before its time: a reader asks for a log. */
		st->logs_due = true;
}

/* One workload pass reading what WHAT says (AGENT_RUN_*); failures are
 * logged once per kind of message, not every second. The TLS context
 * stays open between passes (loading the provider and the key costs
 * more than the handshake); the caller closes it before it opens the
 * TPM for a quote. Returns agent_run_pass()'s result. */
static int
workloads_pass(struct agent_http *h, struct agent_run *ar, unsigned what,
    char **last_err)
{
	_cleanup_free_ char	*err = NULL;
	double			 t0 = bw_mono_s();
	int			 r;

	r = agent_run_pass(ar, agent_http, h, what, &err);
	if (r < 0) {
		/* A new context next time: the certificate may have been
		 * renewed, the TPM connection lost. */
		agent_http_close(h);
	}
	log_debug("workload pass (reads 0x%x): %d change(s) in %.1f ms", what,
	    r, (bw_mono_s() - t0) * 1e3);
	if (r < 0) {
		const char *m = err ? err : bw_strerror(r);

		if (!*last_err || strcmp(*last_err, m) != 0)
			log_warn("workloads: %s (instances keep running)", m);
		free(*last_err);
		*last_err = strdup(m);
	} else if (*last_err) {
		log_info("workloads: control plane reachable again");
		free(*last_err);
		*last_err = NULL;
	}
	return r;
}

static int
agent_run(struct agent *a)
{
	_cleanup_free_ char	*err = NULL, *pass_err = NULL;
	struct agent_run	*ar = NULL;
	struct volume_kek	*kek = NULL;
	struct agent_http	 h = { .a = a };
	struct agent_idle	 st = { .what = AGENT_RUN_RESYNC };
	unsigned		 interval = 60;
	int			 r, ok = 0;

	if (access(a->cert_path, R_OK) < 0 || state_load(a) < 0) {
		if ((r = agent_enrol(a, &err)) < 0) {
			log_error("enrolment failed: %s", err ? err :
			    bw_strerror(r));
			return 1;
		}
	}
	{
		_cleanup_(tpm_closep) struct tpm *tpm = NULL;

		if (tpm_open(a->tcti, &tpm, &err) == 0)
			tpm_report_state(a, tpm);
		else
			log_warn("TPM %s: %s", a->tcti, err ? err :
			    "unavailable");
		free(err);
		err = NULL;
		/* Volumes need the node's volume key, which only this TPM
		 * unseals; without it the node runs no volume. */
		if (tpm && a->run.image_store && !a->once &&
		    (r = volume_kek_open(tpm, a->state_dir, &kek, &err)) < 0)
			log_error("volumes: %s (no volume attaches on this "
			    "node)", err ? err : bw_strerror(r));
		free(err);
		err = NULL;
	}
	if (a->run.image_store && !a->once) {
		a->run.node = a->node;
		a->run.state_dir = a->state_dir;
		a->run.volume_kek = kek;
		if ((r = agent_run_open(&a->run, &ar, &err)) < 0) {
			log_error("workloads: %s", err ? err : bw_strerror(r));
			return 1;
		}
		log_info("node %s runs its workloads (images from %s)", a->node,
		    a->run.image_store);
	}
	while (!stopping) {
		int64_t last_pass_ms;

		/* st.next_attest: monotonic, as the poll that ends at it */
		if (bw_mono_ms() >= st.next_attest) {
			/* swtpm serves one connection: the provider's goes. */
			agent_http_close(&h);
			free(err);
			err = NULL;
			r = attest_once(a, &interval, &err);
			if (r == 1)
				log_info("node %s attested: Trusted", a->node);
			else if (r == 0)
				log_error("node %s attestation refused: %s", a->node,
				    err ? err : "(no message)");
			else
				log_error("node %s attestation failed: %s", a->node,
				    err ? err : bw_strerror(r));
			ok = r == 1;
			if (a->once)
				break;
			st.next_attest = bw_mono_ms() + (int64_t)(a->interval ?
			    a->interval : interval) * 1000;
		}
		if (!ar) {
			sleep_ms((long)(st.next_attest - bw_mono_ms()));
			continue;
		}
		last_pass_ms = bw_mono_ms();
		if (last_pass_ms >= st.next_resync) {
			st.what |= AGENT_RUN_RESYNC;
			/* the wants too, should a wake have been missed */
			st.logs_due = true;
			st.no_watch = false;
			st.next_resync = last_pass_ms + AGENT_RUN_RESYNC_S *
			    1000;
		}
		/* After an error the next list is the resync's, and no
		 * watch (nor log exchange) is made before it. */
		if (workloads_pass(&h, ar, st.what, &pass_err) < 0)
			st.no_watch = true;
		st.what = 0;
		wait_for_change(&h, ar, last_pass_ms, &st);
	}
	/* Instances keep running: a restarted agent adopts them. */
	agent_http_close(&h);
	agent_run_free(ar);
	volume_kek_free(kek);
	return a->once && !ok ? 1 : 0;
}

/* ---- diagnostics ---- */

static int
cmd_quote(struct agent *a, const char *nonce_b64, const char *pcrs)
{
	_cleanup_free_ unsigned char	*nonce = NULL, *quote = NULL;
	_cleanup_free_ char		*err = NULL, *out = NULL;
	_cleanup_(tpm_closep) struct tpm *tpm = NULL;
	size_t				 nlen, qlen;
	uint32_t			 mask = TPM_SEAL_PCRS_DEFAULT;

	if (!nonce_b64 || b64_decode(nonce_b64, ATTEST_NONCE_MAX, &nonce,
	    &nlen) < 0 || nlen == 0) {
		fprintf(stderr, "bulwark-agent: --nonce: base64, 1..64 bytes\n");
		return 2;
	}
	if (pcrs && attest_pcr_mask_parse(pcrs, &mask, &err) < 0) {
		fprintf(stderr, "bulwark-agent: --pcrs: %s\n", err);
		return 2;
	}
	if (tpm_open(a->tcti, &tpm, &err) < 0 ||
	    tpm_ak_ensure(tpm, TPM_AK_HANDLE_DEFAULT, NULL, NULL, &err) < 0 ||
	    tpm_quote(tpm, TPM_AK_HANDLE_DEFAULT, mask, nonce, nlen, &quote,
	    &qlen, &err) < 0 || b64_encode(quote, qlen, &out) < 0) {
		log_error("quote: %s", err ? err : "failed");
		return 1;
	}
	printf("%s\n", out);
	return 0;
}

/* tpm-shutdown: TPM2_Shutdown(STATE) before the TPM (a swtpm that
 * scripts/up started) is stopped, so its next start is orderly. */
static int
cmd_tpm_shutdown(struct agent *a)
{
	_cleanup_free_ char *err = NULL;

	if (tpm_shutdown(a->tcti, &err) < 0) {
		log_error("tpm-shutdown: %s", err ? err : "failed");
		return 1;
	}
	return 0;
}

/* tpm-status: the TPM's lockout state and whether the node's keys
 * carry noDA, as JSON (works in lockout: nothing needs authorization). */
static int
cmd_tpm_status(struct agent *a)
{
	_cleanup_free_ char	*err = NULL, *text = NULL;
	_cleanup_(tpm_closep) struct tpm *tpm = NULL;
	_cleanup_json_ json_t	*o = NULL, *keys = NULL;
	struct tpm_da_status	 da;
	char			 h[16];
	size_t			 i;
	int			 r;

	if (tpm_open(a->tcti, &tpm, &err) < 0 ||
	    tpm_da_status(tpm, &da, &err) < 0) {
		log_error("tpm-status: %s", err ? err : "failed");
		return 1;
	}
	if (!(keys = json_object()))
		return 1;
	for (i = 0; i < ELEMENTSOF(node_keys); i++) {
		if ((r = tpm_key_da_protected(tpm, node_keys[i].handle,
		    &err)) < 0) {
			log_error("tpm-status: %s", err ? err : bw_strerror(r));
			return 1;
		}
		snprintf(h, sizeof(h), "0x%08x", node_keys[i].handle);
		json_object_set_new(keys, h, json_pack("{s:s, s:b}", "key",
		    node_keys[i].name, "da_protected", r));
	}
	o = json_pack("{s:o*, s:O}", "lockout", tpm_da_status_json(&da,
	    (long long)time(NULL)), "keys", keys);
	if (!o || !(text = json_dumps(o, JSON_INDENT(2))))
		return 1;
	printf("%s\n", text);
	return 0;
}

/* stop-instances: every instance of the node gets its stop request,
 * then all are waited for until one shared deadline and the rest are
 * killed (scripts/up --stop, after the agent). Returns the exit code. */
static int
cmd_stop_instances(struct agent *a)
{
	_cleanup_free_ char	*err = NULL, *dir = NULL;
	_cleanup_free_ int	*sent = NULL;
	struct runtime_config	 rc = { .run_dir = a->run.run_dir,
	    .cgroup_parent = a->run.cgroup_parent };
	struct runtime		*rt = NULL;
	char			**ids = NULL;
	int64_t			 deadline;
	size_t			 n = 0, graceful = 0, killed = 0, failed = 0;
	int			 r;

	if (asprintf(&dir, "%s/instances", a->state_dir) < 0)
		return 1;
	rc.state_dir = dir;
	if ((r = runtime_open(&rc, &rt, &err)) < 0 ||
	    (r = runtime_list(rt, &ids, &err)) < 0) {
		log_error("stop-instances: %s", err ? err : bw_strerror(r));
		runtime_free(rt);
		return 1;
	}
	while (ids[n])
		n++;
	if (!(sent = calloc(n + 1, sizeof(*sent)))) {
		runtime_list_free(ids);
		runtime_free(rt);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *e = NULL;

		if ((sent[i] = runtime_stop_signal(rt, ids[i], &e)) < 0)
			log_warn("instance %s: stop: %s", ids[i], e ? e :
			    bw_strerror(sent[i]));
	}
	deadline = bw_mono_ms() + (a->run.stop_grace_ms ?
	    a->run.stop_grace_ms : 10000);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *e = NULL;

		if (sent[i] < 0)
			r = sent[i];
		/* not signalled: exited already, or to be killed at once */
		else if ((r = runtime_stop_finish(rt, ids[i], sent[i] ?
		    deadline : 0, &e)) < 0)
			log_warn("instance %s: stop: %s", ids[i], e ? e :
			    bw_strerror(r));
		if (r < 0)
			failed++;
		else if (r == 0)
			killed++;
		else if (sent[i] == 1)
			graceful++;
	}
	printf("%zu instance(s) stopped: %zu within the grace period, %zu "
	    "killed; %zu had ended, %zu failed\n", graceful + killed,
	    graceful, killed, n - graceful - killed - failed, failed);
	runtime_list_free(ids);
	runtime_free(rt);
	return failed ? 1 : 0;
}

static int
cmd_request(struct agent *a, int argc, char **argv)
{
	_cleanup_free_ char	*err = NULL, *body = NULL;
	struct agent_tls	*t = NULL;
	unsigned		 i, ok = 0;
	int			 status, r;

	if (argc < 2 || argc > 3) {
		usage(stderr);
		return 2;
	}
	if (state_load(a) < 0) {
		log_error("%s: not enrolled", a->state_dir);
		return 1;
	}
	if ((r = agent_tls_open_tpm(a->tcti, AGENT_TLS_KEY_HANDLE,
	    a->cert_path, a->ca_path, &t, &err)) < 0) {
		log_error("request: %s", err ? err : bw_strerror(r));
		return 1;
	}
	/* Repeated on the kept-alive connection: one handshake (one TPM
	 * signature) for all of them. */
	for (i = 0; i < (a->repeat ? a->repeat : 1); i++) {
		free(body);
		body = NULL;
		if ((r = agent_https(t, a->server, argv[0], argv[1], argc == 3 ?
		    argv[2] : NULL, &status, &body, &err)) < 0) {
			agent_tls_close(t);
			log_error("request %u: %s", i + 1, err ? err :
			    bw_strerror(r));
			return 1;
		}
		if (status / 100 == 2)
			ok++;
	}
	agent_tls_close(t);
	if (a->repeat)
		fprintf(stderr, "%u requests, %u answered 2xx\n", i, ok);
	printf("%d\n%s", status, body);
	return status / 100 == 2 ? 0 : 3;
}

/* The workload loop's numeric options (C: 'g' --stop-grace, 'u'
 * --cpu-interval, 'l' --log-max-bytes) into A->run. Returns 0, or
 * -BW_E_INVALID once opt_help_uint() said why. */
static int
run_number_opt(struct agent *a, int c, const char *arg)
{
	static const struct {
		int		 c;
		const char	*name;
		unsigned long	 min, max;
	} t[] = {
		{ 'g', "stop-grace", 0, 3600 },
		{ 'u', "cpu-interval", 1, 3600 },
		{ 'l', "log-max-bytes", LOGCAP_MIN, LOGCAP_MAX },
	};
	unsigned long v;

	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		if (t[i].c != c)
			continue;
		if (opt_help_uint("bulwark-agent", t[i].name, arg, t[i].min,
		    t[i].max, &v) < 0)
			return -BW_E_INVALID;
		if (c == 'g')	/* 0 would mean the default: ask for 1 ms */
			a->run.stop_grace_ms = v ? (unsigned)v * 1000 : 1;
		else if (c == 'u')
			a->run.cpu_interval_s = (unsigned)v;
		else
			a->run.log_max_bytes = v;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct option		 longopts[ELEMENTSOF(options) + 1];
	struct agent		 a = { .tcti = AGENT_DEFAULT_TCTI,
	    .state_dir = AGENT_DEFAULT_STATE, .wait = 600 };
	const char		*cmd = "run", *nonce = NULL, *pcrs = NULL;
	enum log_level		 lvl = LOG_LVL_INFO;
	struct sigaction	 sa = { .sa_handler = on_stop };
	int			 c, r;

	log_init("bulwark-agent", LOG_LVL_INFO);
	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argv++;
		argc--;
	}
	opt_help_longopts(options, ELEMENTSOF(options), longopts);
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': a.tcti = optarg; break;
		case 's': a.state_dir = optarg; break;
		case 'S': a.server = optarg; break;
		case 'b': a.bootstrap = optarg; break;
		case 'o': a.once = 1; break;
		case 'n': nonce = optarg; break;
		case 'p': pcrs = optarg; break;
		case 'I': a.run.image_store = optarg; break;
		case 'R': a.run.run_dir = optarg; break;
		case 'G': a.run.cgroup_parent = optarg; break;
		case 'K': a.run.vm_kernel = optarg; break;
		case 'N': a.run.vm_initrd = optarg; break;
		case 'C': a.run.vm_cmdline = optarg; break;
		case 'g':
		case 'u':
		case 'l':
			if (run_number_opt(&a, c, optarg) < 0)
				return 2;
			break;
		case 'r': {
			unsigned long v;

			if (opt_help_uint("bulwark-agent", "repeat", optarg, 1,
			    100000, &v) < 0)
				return 2;
			a.repeat = (unsigned)v;
			break;
		}
		case 'i':
		case 'w': {
			unsigned long v;

			if (opt_help_uint("bulwark-agent", c == 'i' ?
			    "interval" : "wait", optarg, 1, 86400, &v) < 0)
				return 2;
			if (c == 'i')
				a.interval = (unsigned)v;
			else
				a.wait = (unsigned)v;
			break;
		}
		case 'L':
			if (strcmp(optarg, "debug") == 0)
				lvl = LOG_LVL_DEBUG;
			else if (strcmp(optarg, "warn") == 0)
				lvl = LOG_LVL_WARN;
			else if (strcmp(optarg, "error") == 0)
				lvl = LOG_LVL_ERROR;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	log_init("bulwark-agent", lvl);
	/* tpm2-tss would otherwise log to our JSON stderr. */
	setenv("TSS2_LOG", "all+NONE", 0);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((r = crypto_policy_init(NULL)) < 0) {
		log_error("crypto policy: %s", bw_strerror(r));
		return 1;
	}
	if (state_paths(&a) < 0) {
		log_error("--state-dir: path too long");
		return 2;
	}
	if (strcmp(cmd, "quote") == 0)
		return cmd_quote(&a, nonce, pcrs);
	if (strcmp(cmd, "request") == 0)
		return cmd_request(&a, argc - optind, argv + optind);
	if (strcmp(cmd, "tpm-shutdown") == 0)
		return cmd_tpm_shutdown(&a);
	if (strcmp(cmd, "tpm-status") == 0)
		return cmd_tpm_status(&a);
	if (strcmp(cmd, "stop-instances") == 0)
		return cmd_stop_instances(&a);
	if (strcmp(cmd, "run") != 0 || optind < argc) {
		usage(stderr);
		return 2;
	}
	if (mkdir_p(a.state_dir, 0700) < 0) {
		log_error("cannot create %s: %m", a.state_dir);
		return 1;
	}
	return agent_run(&a);
}

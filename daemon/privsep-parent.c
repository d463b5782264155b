#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "audit/record.h"
#include "controlplane/api.h"
#include "controlplane/commit.h"
#include "daemon/privsep-parent.h"
#include "hardening/sandbox.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "privsep/ipc.h"
#include "privsep/spawner.h"
#include "privsep/worker-proto.h"

/* Restart delays: a worker that lived less than PSP_CRASH_SECS doubles
 * the next delay (a crash loop costs little), one that lived longer
 * restarts after the shortest. */
#define PSP_RESTART_MIN_MS	250
#define PSP_RESTART_MAX_MS	30000
#define PSP_CRASH_SECS		2

struct psp {
	struct event_base	*base;
	struct api_server	*api;
	struct committer	*commit;
	char			 exe[PATH_MAX];
	char			 hook_path[PATH_MAX];
	pid_t			 pid;
	uint32_t		 epoch;		/* which worker a cookie is for */
	int			 ctl, sign;	/* our ends, -1: none */
	struct ipc_chan		 cctl, csign;
	struct event		*ctl_ev, *sign_ev, *restart_ev, *hook_ev;
	struct event		*pss_ev;	/* the spawner's channel */
	time_t			 started;
	unsigned		 delay_ms;
	unsigned long long	 restarts;
	/* The API's contexts: the current one's key signs new handshakes,
	 * the previous one's those begun just before a renewal. */
	SSL_CTX			*ctx[2];
	uint32_t		 gen[2];
	uint32_t		 next_gen;
};

static void
psp_audit(struct psp *p, const char *action, const char *outcome,
    const char *reason)
{
	if (!p->commit)
		return;
	commit_audit_async(p->commit, &(struct audit_record){
		.actor = "bulwarkd", .role = "system", .tenant = "system",
		.source = "local", .auth_method = "none", .action = action,
		.outcome = outcome, .reason = reason,
		.controls = "SC-2,SC-39,AC-6,AU-2",
	});
}

static int spawn(struct psp *p, char **ret_err);

static void
channels_close(struct psp *p)
{
	if (p->ctl_ev)
		event_free(p->ctl_ev);
	if (p->sign_ev)
		event_free(p->sign_ev);
	p->ctl_ev = p->sign_ev = NULL;
	if (p->ctl >= 0) {
		ipc_chan_done(&p->cctl);
		close(p->ctl);
	}
	if (p->sign >= 0) {
		ipc_chan_done(&p->csign);
		close(p->sign);
	}
	p->ctl = p->sign = -1;
}

/* The spawner failed (pss_spawn() and pss_end() killed it): without it
 * no worker can start, and a new one cannot be made (its capabilities
 * are dropped), so the daemon exits for its service manager to start
 * it again rather than leave the API down. */
static void __attribute__((noreturn))
spawner_failed(const char *why)
{
	fatal("spawner failed: %s; bulwarkd exits (the API cannot run "
	    "without it)", why ? why : "?");
}

/* The spawner's channel is readable between requests: it closed (the
 * spawner died; its worker outlives it, serving until this process
 * exits and closes its channels) or it sent what nobody asked for. */
static void
pss_cb(evutil_socket_t fd, short what, void *arg)
{
	spawner_failed("its channel closed, or it answered unasked");
}

/* Ends the worker (SIGKILL: it is not trusted to stop), reaps it and
 * puts its wait status in *RET_STATUS. */
static void
worker_end(struct psp *p, int *ret_status)
{
	int status = 0;

	_cleanup_free_ char *err = NULL;

	channels_close(p);
	/* With a spawner the worker is its child and another user: the
	 * spawner kills and reaps it. */
	if (p->pid > 0 && pss_running()) {
		if (pss_end(p->pid, &status, &err) < 0)
			spawner_failed(err);
	} else if (p->pid > 0) {
		(void)kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	p->pid = 0;
	*ret_status = status;
}

static void
restart_later(struct psp *p)
{
	struct timeval tv;

	if (time(NULL) - p->started < PSP_CRASH_SECS)
		p->delay_ms = p->delay_ms ? p->delay_ms * 2 : PSP_RESTART_MIN_MS;
	else
		p->delay_ms = PSP_RESTART_MIN_MS;
	if (p->delay_ms > PSP_RESTART_MAX_MS)
		p->delay_ms = PSP_RESTART_MAX_MS;
	tv.tv_sec = p->delay_ms / 1000;
	tv.tv_usec = (p->delay_ms % 1000) * 1000;
	evtimer_add(p->restart_ev, &tv);
}

/* The worker broke the protocol (REASON): it goes, the parent stays. */
static void
worker_refused(struct psp *p, const char *reason)
{
	char	msg[400];
	pid_t	pid = p->pid;
	int	status;

	worker_end(p, &status);
	snprintf(msg, sizeof(msg), "API worker pid %d ended: %s", (int)pid,
	    reason);
	log_warn("%s", msg);
	psp_audit(p, "privsep.worker_refused", "denied", msg);
	restart_later(p);
}

/* The worker's channel ended without a refused frame: it died (or
 * closed it, which is as bad); recorded with how it ended. */
static void
worker_lost(struct psp *p, const char *why)
{
	char	msg[400], how[128];
	pid_t	pid = p->pid;
	int	status;

	worker_end(p, &status);
	sandbox_status_describe(status, how, sizeof(how));
	snprintf(msg, sizeof(msg), "API worker pid %d %s: %s (%s)", (int)pid,
	    why, how, sandbox_status_is_violation(status) ? "a seccomp "
	    "violation" : "restarting");
	log_warn("%s", msg);
	psp_audit(p, "privsep.worker_died", "failure", msg);
	restart_later(p);
}

static bool
printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)s[i]))
			return false;
	return true;
}

static int
on_conn(struct psp *p, const struct ipc_msg *m, char **ret_err)
{
	struct psw_conn		 h;
	char			 peer[PSW_PEER_MAX + 1];
	uint64_t		 cookie = (uint64_t)p->epoch << 32 | m->id;
	int			 r;

	memcpy(&h, m->data, sizeof(h));
	if (h.peer_len == 0 || h.peer_len > PSW_PEER_MAX ||
	    sizeof(h) + h.peer_len > m->len ||
	    !printable((const char *)m->data + sizeof(h), h.peer_len))
		return errf(-BW_E_INVALID, ret_err, "CONN: peer of %u bytes "
		    "in %zu", h.peer_len, m->len);
	memcpy(peer, m->data + sizeof(h), h.peer_len);
	peer[h.peer_len] = '\0';
	r = api_server_adopt(p->api, cookie, peer, m->data + sizeof(h) +
	    h.peer_len, m->len - sizeof(h) - h.peer_len, ret_err);
	/* A certificate the worker passed that does not verify here is a
	 * worker lying; the rest (too many waiting) is only a refusal. */
	if (r == -BW_E_UNAUTH || r == -BW_E_INVALID)
		return r;
	if (r < 0) {
		log_warn("API worker connection from %s: %s", peer,
		    ret_err && *ret_err ? *ret_err : bw_strerror(r));
		(void)ipc_send(p->ctl, PSW_CONN_NO, m->id, NULL, 0, -1);
	}
	return 0;
}

static int
on_anon(struct psp *p, const struct ipc_msg *m, char **ret_err)
{
	char		 buf[PSW_ANON_MAX + 1];
	const char	*action = buf, *source, *reason;
	size_t		 len = m->len - 4;
	uint32_t	 count;

	memcpy(&count, m->data, sizeof(count));
	memcpy(buf, m->data + 4, len);
	buf[len] = '\0';
	source = memchr(buf, '\0', len) ? action + strlen(action) + 1 : NULL;
	reason = source && source < buf + len ? source + strlen(source) + 1 :
	    NULL;
	if (!reason || reason > buf + len || count == 0 || count > 1000000 ||
	    (strcmp(action, "tls.handshake_failure") != 0 &&
	    strcmp(action, "api.connection_dropped") != 0) ||
	    !printable(source, strlen(source)) ||
	    !printable(reason, strlen(reason)))
		return errf(-BW_E_INVALID, ret_err, "ANON: malformed");
	api_server_anon_event(p->api, source, action, reason, count);
	return 0;
}

static int
ctl_handle(void *arg, const struct ipc_rule *rule, const struct ipc_msg *m)
{
	struct psp		*p = arg;
	_cleanup_free_ char	*err = NULL;
	int			 r = 0;

	switch (rule->type) {
	case PSW_HELLO:
		log_info("API worker pid %d is serving", (int)p->pid);
		break;
	case PSW_CONN:
		r = on_conn(p, m, &err);
		break;
	case PSW_ANON:
		r = on_anon(p, m, &err);
		break;
	}
	if (r < 0 && err)
		log_warn("API worker: %s", err);
	return r;
}

/* Reads CHAN through its table into HANDLE: a refused frame ends the
 * worker as refused, an end of stream or a read error as lost. */
static void
chan_pump(struct psp *p, struct ipc_chan *chan, ipc_handler handle,
    const char *name)
{
	_cleanup_free_ char	*err = NULL;
	char			 why[64];
	int			 r;

	r = ipc_chan_pump(chan, bw_mono_ns() / 1000000000ull, handle, p,
	    &err);
	snprintf(why, sizeof(why), "closed its %s channel", name);
	if (r == 1)
		worker_lost(p, why);
	else if (r < 0 && (r == -BW_E_INVALID || r == -BW_E_TOOLARGE ||
	    r == -BW_E_QUOTA || r == -BW_E_UNAUTH))
		worker_refused(p, err ? err : bw_strerror(r));
	else if (r < 0)
		worker_lost(p, err ? err : why);
}

static void
ctl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct psp *p = arg;

	chan_pump(p, &p->cctl, ctl_handle, "control");
}

/* Signs DIGEST with the key of generation GEN; a DER signature into
 * *RET (OPENSSL_free). */
static int
sign_digest(struct psp *p, uint32_t gen, const unsigned char *digest,
    size_t dlen, unsigned char **ret, size_t *ret_len)
{
	EVP_PKEY_CTX	*kc;
	EVP_PKEY	*key = NULL;
	unsigned char	*sig = NULL;
	size_t		 n = 0;
	int		 ok;

	for (int i = 0; i < 2; i++)
		if (p->ctx[i] && p->gen[i] == gen)
			key = SSL_CTX_get0_privatekey(p->ctx[i]);
	if (!key || !(kc = EVP_PKEY_CTX_new(key, NULL)))
		return -BW_E_NOTFOUND;
	ok = EVP_PKEY_sign_init(kc) == 1 &&
	    EVP_PKEY_sign(kc, NULL, &n, digest, dlen) == 1 &&
	    (sig = OPENSSL_malloc(n)) &&
	    EVP_PKEY_sign(kc, sig, &n, digest, dlen) == 1;
	EVP_PKEY_CTX_free(kc);
	if (!ok) {
		OPENSSL_free(sig);
		return -BW_E_CRYPTO;
	}
	*ret = sig;
	*ret_len = n;
	return 0;
}

/* SIGN: the signature, or an empty SIG when there is none to give (an
 * unknown generation); only a broken channel ends the worker. */
static int
sign_handle(void *arg, const struct ipc_rule *rule, const struct ipc_msg *m)
{
	unsigned char	*sig = NULL;
	struct psp	*p = arg;
	uint32_t	 gen;
	size_t		 n = 0;
	int		 r;

	(void)rule;
	memcpy(&gen, m->data, sizeof(gen));
	if (sign_digest(p, gen, m->data + 4, m->len - 4, &sig, &n) < 0)
		n = 0;
	r = ipc_send(p->sign, PSW_SIG, m->id, sig, n, -1);
	OPENSSL_free(sig);
	return r == -EPIPE ? 0 : r;
}

static void
sign_cb(evutil_socket_t fd, short what, void *arg)
{
	struct psp *p = arg;

	chan_pump(p, &p->csign, sign_handle, "sign");
}

/* PEM of every certificate X509 in STORE (the CAs) or of CTX's chain. */
static int
pem_certs(BIO *bio, SSL_CTX *ctx, bool cas)
{
	STACK_OF(X509_OBJECT)	*objs;
	STACK_OF(X509)		*chain = NULL;
	X509			*x;
	int			 i;

	if (cas) {
		objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
		for (i = 0; i < sk_X509_OBJECT_num(objs); i++)
			if ((x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs,
			    i))) && !PEM_write_bio_X509(bio, x))
				return -BW_E_CRYPTO;
		return 0;
	}
	if (!(x = SSL_CTX_get0_certificate(ctx)) || !PEM_write_bio_X509(bio, x))
		return -BW_E_CRYPTO;
	SSL_CTX_get0_chain_certs(ctx, &chain);
	for (i = 0; i < sk_X509_num(chain); i++)
		if (!PEM_write_bio_X509(bio, sk_X509_value(chain, i)))
			return -BW_E_CRYPTO;
	return 0;
}

/* CERT: the current context's CAs, chain and public key, and the
 * limits on handshakes. */
static int
send_cert(struct psp *p)
{
	struct psw_cert	 h = { .generation = p->gen[0],
	    .max_unauth = api_server_max_unauth(p->api),
	    .handshake_secs = API_HANDSHAKE_SECS,
	    .per_source = API_UNAUTH_PER_SOURCE };
	struct bw_buf	 b = { 0 };
	BIO		*bio = BIO_new(BIO_s_mem());
	X509		*leaf;
	char		*mem;
	long		 n;
	int		 r = -BW_E_CRYPTO;

	if (!bio || !p->ctx[0] || !(leaf = SSL_CTX_get0_certificate(p->ctx[0])))
		goto out;
	if (pem_certs(bio, p->ctx[0], true) < 0 || BIO_write(bio, "", 1) != 1 ||
	    pem_certs(bio, p->ctx[0], false) < 0 || BIO_write(bio, "", 1) != 1 ||
	    !PEM_write_bio_PUBKEY(bio, X509_get0_pubkey(leaf)) ||
	    BIO_write(bio, "", 1) != 1)
		goto out;
	n = BIO_get_mem_data(bio, &mem);
	if ((r = bw_buf_append(&b, &h, sizeof(h))) < 0 ||
	    (r = bw_buf_append(&b, mem, (size_t)n)) < 0)
		goto out;
	r = ipc_send(p->ctl, PSW_CERT, 0, b.p, b.len, -1);
out:
	BIO_free(bio);
	bw_buf_done(&b);
	return r;
}

static void
ctx_changed(void *arg, SSL_CTX *ctx)
{
	struct psp *p = arg;

	if (ctx == p->ctx[0] || !SSL_CTX_up_ref(ctx))
		return;
	SSL_CTX_free(p->ctx[1]);
	p->ctx[1] = p->ctx[0];
	p->gen[1] = p->gen[0];
	p->ctx[0] = ctx;
	p->gen[0] = ++p->next_gen;
	if (p->ctl >= 0 && send_cert(p) < 0)
		log_warn("API worker: sending the renewed certificate failed");
}

static void
adopted(void *arg, uint64_t cookie, int fd)
{
	struct psp *p = arg;

	if (p->ctl < 0 || (uint32_t)(cookie >> 32) != p->epoch ||
	    ipc_send(p->ctl, PSW_CONN_OK, (uint32_t)cookie, NULL, 0, fd) < 0)
		log_debug("API worker gone: a stream is closed");
	close(fd);
}

static void
restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct psp		*p = arg;
	_cleanup_free_ char	*err = NULL;
	char			 msg[200];

	(void)fd;
	(void)what;
	if (spawn(p, &err) < 0) {
		log_error("API worker: restart failed: %s", err ? err : "?");
		restart_later(p);
		return;
	}
	p->restarts++;
	snprintf(msg, sizeof(msg), "API worker restarted as pid %d (restart "
	    "%llu, after %u ms)", (int)p->pid, p->restarts, p->delay_ms);
	log_info("%s", msg);
	psp_audit(p, "privsep.worker_restart", "success", msg);
}

/* The child's side of the fork: its channels at fds 3..5, nothing else
 * open, then `bulwarkd --worker` (a fresh address space: nothing of
 * the parent's memory, keys above all, comes along). */
static void __attribute__((noreturn))
child_exec(const char *exe, int ctl, int sign, int lfd)
{
	char *const argv[] = { (char *)"bulwarkd", (char *)"--worker", NULL };

	if (dup2(ctl, PSW_FD_CTL) < 0 || dup2(sign, PSW_FD_SIGN) < 0 ||
	    dup2(lfd, PSW_FD_LISTEN) < 0)
		_exit(126);
	(void)close_range(PSW_FD_LISTEN + 1, ~0U, 0);
	execv(exe, argv);
	_exit(127);
}

static int
spawn(struct psp *p, char **ret_err)
{
	int	ctl[2] = { -1, -1 }, sign[2] = { -1, -1 }, lfd, r;
	pid_t	pid;

	lfd = api_server_tcp_fd(p->api);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sign) < 0) {
		r = errf(-errno, ret_err, "socketpair: %s", strerror(errno));
		goto fail;
	}
	if (pss_running()) {
		if ((r = pss_spawn(ctl[1], sign[1], lfd, &pid, ret_err)) < 0)
			spawner_failed(ret_err ? *ret_err : NULL);
	} else if ((pid = fork()) < 0) {
		r = errf(-errno, ret_err, "fork: %s", strerror(errno));
		goto fail;
	} else if (pid == 0)
		child_exec(p->exe, ctl[1], sign[1], lfd);
	close(ctl[1]);
	close(sign[1]);
	p->pid = pid;
	p->started = time(NULL);
	p->epoch++;
	p->ctl = ctl[0];
	p->sign = sign[0];
	if ((r = ipc_chan_init(&p->cctl, p->ctl, psw_ctl_rules,
	    psw_ctl_nrules)) < 0 ||
	    (r = ipc_chan_init(&p->csign, p->sign, psw_sign_rules,
	    psw_sign_nrules)) < 0)
		return errf(r, ret_err, "channels: %s", bw_strerror(r));
	(void)fcntl(p->ctl, F_SETFL, O_NONBLOCK);
	(void)fcntl(p->sign, F_SETFL, O_NONBLOCK);
	if (!(p->ctl_ev = event_new(p->base, p->ctl, EV_READ | EV_PERSIST,
	    ctl_cb, p)) || event_add(p->ctl_ev, NULL) < 0 ||
	    !(p->sign_ev = event_new(p->base, p->sign, EV_READ | EV_PERSIST,
	    sign_cb, p)) || event_add(p->sign_ev, NULL) < 0)
		return errf(-ENOMEM, ret_err, "worker events");
	if ((r = send_cert(p)) < 0)
		return errf(r, ret_err, "sending the certificate: %s",
		    bw_strerror(r));
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (sign[i] >= 0)
			close(sign[i]);
	}
	return r;
}

#ifdef BW_TEST_HOOKS
/* SIGUSR2: the action named in DATA/test-hook goes to the worker. */
static void
hook_cb(evutil_socket_t fd, short what, void *arg)
{
	struct psp		*p = arg;
	_cleanup_free_ char	*text = NULL;
	size_t			 len;
	int			 hook;
	uint8_t			 b;

	(void)fd;
	(void)what;
	if (read_file_at(AT_FDCWD, p->hook_path, 64, &text, &len) < 0)
		return;
	text[strcspn(text, " \n")] = '\0';
	if ((hook = psw_hook_parse(text)) < 0 || p->ctl < 0) {
		log_warn("test hook \"%s\": unknown or no worker", text);
		return;
	}
	b = (uint8_t)hook;
	log_warn("test hook: worker pid %d gets %s", (int)p->pid, text);
	(void)ipc_send(p->ctl, PSW_TEST_HOOK, 0, &b, 1, -1);
}
#endif

int
psp_start(struct event_base *base, struct api_server *api,
    SSL_CTX *ctx, struct committer *commit, const char *data_dir,
    struct psp **ret, char **ret_err)
{
	struct psp	*p;
	ssize_t		 n;
	int		 r;

	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	p->base = base;
	p->api = api;
	p->commit = commit;
	p->ctl = p->sign = -1;
	snprintf(p->hook_path, sizeof(p->hook_path), "%s/test-hook", data_dir);
	if ((n = readlink("/proc/self/exe", p->exe, sizeof(p->exe) - 1)) < 0) {
		r = errf(-errno, ret_err, "/proc/self/exe: %s", strerror(errno));
		goto fail;
	}
	p->exe[n] = '\0';
	if (!(p->restart_ev = evtimer_new(base, restart_cb, p))) {
		r = -ENOMEM;
		goto fail;
	}
	if (pss_running() && (!(p->pss_ev = event_new(base, pss_fd(),
	    EV_READ | EV_PERSIST, pss_cb, p)) || event_add(p->pss_ev,
	    NULL) < 0)) {
		r = -ENOMEM;
		goto fail;
	}
#ifdef BW_TEST_HOOKS
	if (!(p->hook_ev = evsignal_new(base, SIGUSR2, hook_cb, p)) ||
	    evsignal_add(p->hook_ev, NULL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
#endif
	ctx_changed(p, ctx);
	api_server_set_adopt_cb(api, adopted, p);
	api_server_set_ctx_cb(api, ctx_changed, p);
	if ((r = spawn(p, ret_err)) < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	psp_stop(p);
	return r;
}

pid_t
psp_worker_pid(const struct psp *p)
{
	return p ? p->pid : 0;
}

void
psp_stop(struct psp *p)
{
	int status;

	if (!p)
		return;
	api_server_set_adopt_cb(p->api, NULL, NULL);
	api_server_set_ctx_cb(p->api, NULL, NULL);
	worker_end(p, &status);
	if (p->restart_ev)
		event_free(p->restart_ev);
	if (p->hook_ev)
		event_free(p->hook_ev);
	if (p->pss_ev)
		event_free(p->pss_ev);
	SSL_CTX_free(p->ctx[0]);
	SSL_CTX_free(p->ctx[1]);
	free(p);
}

/* The console's local socket; see console-cred.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "daemon/console-cred.h"
#include "console/console-conf.h"
#include "daemon/identity.h"
#include "hardening/pki.h"
#include "privsep/console-ipc.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/ossl-cleanup.h"

#define CCRED_USERS_MAX		(64 * 1024)
#define CCRED_TIMEOUT_S		10
#define CCRED_CONNS_MAX		16

struct ccred_conn;

struct ccred {
	TAILQ_HEAD(, ccred_conn) conns_list;
	struct event_base	*base;
	struct evconnlistener	*lis;
	char			 sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char			 users_path[4096];
	char			 pkidir[4096];
	char			 ca_path[4200];
	char			 server_url[300];
	char			 console_config[PATH_MAX];	/* "": none */
	struct identity		*identity;
	struct api_server	*srv;
	int			 conns;
};

struct ccred_conn {
	TAILQ_ENTRY(ccred_conn)	 link;
	struct ccred		*c;
	struct bufferevent	*bev;
	char			 source[64];
};

/* Each event the console reports, the audit action it becomes, whether
 * it is a failure, and whether PAM had accepted the user (then the
 * mapped principal is the actor; before, nobody was authenticated and
 * the actor is the console, with the user named in the reason). */
static const struct {
	const char	*event;
	const char	*action;
	int		 failure;
	int		 authenticated;
} ccred_events[] = {
	{ "login", "console.login", 0, 1 },
	{ "login.failed", "console.login", 1, 0 },
	{ "account.lockout", "console.lockout", 1, 0 },
	{ "session.lock", "console.lock", 0, 1 },
	{ "session.unlock", "console.unlock", 0, 1 },
	{ "session.unlock.failed", "console.unlock", 1, 1 },
	{ "logout", "console.logout", 0, 1 },
	{ "session.expired", "console.session-end", 0, 1 },
	{ "session.limit", "console.login", 1, 1 },
	/* an expired password changed at the login (PAM had authenticated
	 * the user with the old one); a change that failed is no login */
	{ "password.changed", "console.password-change", 0, 1 },
	{ "password.change.failed", "console.password-change", 1, 0 },
};

/* The roles a console user may hold: people's roles. The machine roles
 * pki_check_role() also knows (node, node-bootstrap, metrics) would hand
 * a PAM login e.g. a node certificate without TPM enrolment. */
static const char *const ccred_roles[] = {
	"system-admin", "security-auditor", "tenant-admin", "tenant-user",
};

static int
ccred_role_allowed(const char *role)
{
	size_t i;

	for (i = 0; role && i < ELEMENTSOF(ccred_roles); i++)
		if (strcmp(role, ccred_roles[i]) == 0)
			return 1;
	return 0;
}

int
ccred_map_user(const json_t *users, const char *user,
    struct authz_identity *ret, char **ret_err)
{
	const json_t	*e = json_object_get(users, user);
	const char	*p = json_str_at(e, "principal", NULL);
	const char	*t = json_str_at(e, "tenant", NULL);
	const char	*role = json_str_at(e, "role", NULL);
	int		 r;

	if (!e)
		return errf(-BW_E_NOTFOUND, ret_err,
		    "no principal is mapped to console user %s", user);
	if ((r = pki_check_name("principal", p, ret_err)) < 0 ||
	    (r = pki_check_name("tenant", t, ret_err)) < 0 ||
	    (r = pki_check_role(t, role, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%s: console user %s",
		    CCRED_USERS_FILE, user);
	if (!ccred_role_allowed(role))
		return errf(-BW_E_INVALID, ret_err, "%s: console user %s: "
		    "role %s is not one a console user may hold (system-admin, "
		    "security-auditor, tenant-admin or tenant-user)",
		    CCRED_USERS_FILE, user, role);
	*ret = (struct authz_identity){ .role = authz_role_parse(role),
	    .auth_method = "pam" };
	snprintf(ret->principal, sizeof(ret->principal), "%s", p);
	snprintf(ret->tenant, sizeof(ret->tenant), "%s", t);
	snprintf(ret->role_name, sizeof(ret->role_name), "%s", role);
	return 0;
}

/* The console itself as the actor of a record. */
static void
console_identity(const char *source, const char *method,
    struct authz_identity *id)
{
	*id = (struct authz_identity){ .role = ROLE_NONE, .auth_method = method };
	snprintf(id->principal, sizeof(id->principal), "console");
	snprintf(id->tenant, sizeof(id->tenant), "system");
	snprintf(id->role_name, sizeof(id->role_name), "none");
	snprintf(id->source, sizeof(id->source), "%s", source);
}

/* The identity the request's "user" maps to; an unmapped or malformed
 * one leaves *ID as the console itself, so its records still name who
 * tried. */
static int
map_request(struct ccred_conn *cc, const json_t *req,
    struct authz_identity *id, char **ret_err)
{
	_cleanup_free_ char	*text = NULL;
	_cleanup_json_ json_t	*users = NULL;
	const char		*user = json_str_at(req, "user", NULL);
	size_t			 len;
	int			 r;

	console_identity(cc->source, "pam", id);
	if (!user)
		return errf(-BW_E_INVALID, ret_err, "user: required");
	if ((r = read_file_at(AT_FDCWD, cc->c->users_path, CCRED_USERS_MAX,
	    &text, &len)) < 0)
		return errf(r == -ENOENT ? -BW_E_NOTFOUND : r, ret_err,
		    "%s: %s", cc->c->users_path, bw_strerror(r));
	if ((r = json_parse_bounded(text, len, 4, &users, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%s", cc->c->users_path);
	if ((r = ccred_map_user(users, user, id, ret_err)) < 0)
		return r;
	snprintf(id->source, sizeof(id->source), "%s", cc->source);
	return 0;
}

int
ccred_lifetime_max(const char *path)
{
	struct console_conf	 conf;
	_cleanup_free_ char	*err = NULL;
	int			 max = CIPC_LIFETIME_MAX;

	if (path && path[0] && console_conf_load_trusted(path, &conf,
	    &err) == 0) {
		max = conf.session_max;	/* the parser bounds it to the max */
		console_conf_clear(&conf);
	}
	return max;
}

/* CIPC_CRED: a certificate for the mapped principal, for the CSR's key,
 * for the lifetime the console asks, at most ccred_lifetime_max(): a
 * console asking for more than its configuration's session_max gets
 * that, so what the compliance facts report is what is issued. */
static int
handle_cred(struct ccred_conn *cc, const json_t *req, json_t **ret,
    char **ret_err)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY	*key = NULL;
	EVP_PKEY				*ca_key = NULL;
	_cleanup_free_ char			*cert = NULL, *serial = NULL;
	struct authz_identity			 id;
	const char				*csr = json_str_at(req, "csr", NULL);
	long long				 life = json_int_at(req, "lifetime",
	    NULL, 0);
	char					 why[300];
	int					 r, max;

	r = map_request(cc, req, &id, ret_err);
	if (r == 0 && (life < CIPC_LIFETIME_MIN || life > CIPC_LIFETIME_MAX))
		r = errf(-BW_E_INVALID, ret_err, "lifetime: must be %d..%d",
		    CIPC_LIFETIME_MIN, CIPC_LIFETIME_MAX);
	if (r == 0 && life > (max = ccred_lifetime_max(cc->c->console_config)))
		life = max;
	if (r == 0 && !csr)
		r = errf(-BW_E_INVALID, ret_err, "csr: required");
	if (r == 0 && !(ca_key = identity_ca_key(cc->c->identity)))
		r = errf(-BW_E_UNAVAILABLE, ret_err, "the CA key is not loaded");
	if (r == 0)
		r = pki_csr_public_key(csr, strlen(csr), &key, ret_err);
	if (r == 0)
		r = pki_issue_for_key(cc->c->pkidir, ca_key, id.principal,
		    id.tenant, id.role_name, key, (unsigned)life, &cert, NULL,
		    &serial, ret_err);
	snprintf(why, sizeof(why), "pam user %.32s: %s",
	    json_str_at(req, "user", NULL) ?: "?", r == 0 ? "certificate serial " :
	    (ret_err && *ret_err ? *ret_err : bw_strerror(r)));
	if (r == 0)
		snprintf(why + strlen(why), sizeof(why) - strlen(why),
		    "%s, %lld s, key from the console's CSR", serial, life);
	api_audit(cc->c->srv, &id, "console.credential", NULL, NULL, NULL,
	    r == 0 ? "success" : "failure", why);
	if (r < 0)
		return r;
	*ret = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "server",
	    cc->c->server_url, "ca", cc->c->ca_path, "cert", cert, "principal",
	    id.principal, "tenant", id.tenant, "role", id.role_name, "serial",
	    serial);
	return *ret ? 0 : -ENOMEM;
}

/* CIPC_EVENT: one audit record of a console session event. */
static int
handle_event(struct ccred_conn *cc, const json_t *req, json_t **ret,
    char **ret_err)
{
	struct authz_identity	 id;
	const char		*ev = json_str_at(req, "event", NULL);
	char			 why[300];
	size_t			 i;

	for (i = 0; ev && i < ELEMENTSOF(ccred_events); i++)
		if (strcmp(ccred_events[i].event, ev) == 0)
			break;
	if (!ev || i == ELEMENTSOF(ccred_events))
		return errf(-BW_E_INVALID, ret_err, "event: unknown");
	/* an unmapped user's events are still recorded, as the console's */
	if (ccred_events[i].authenticated)
		map_request(cc, req, &id, NULL);
	else
		console_identity(cc->source, "pam", &id);
	snprintf(why, sizeof(why), "pam user %.32s on %.64s%s%.100s",
	    json_str_at(req, "user", NULL) ?: "?",
	    json_str_at(req, "tty", NULL) ?: "?",
	    json_str_at(req, "detail", NULL) ? ": " : "",
	    json_str_at(req, "detail", NULL) ?: "");
	api_audit(cc->c->srv, &id, ccred_events[i].action, NULL, NULL, NULL,
	    ccred_events[i].failure ? "failure" : "success", why);
	*ret = json_object();
	return *ret ? 0 : -ENOMEM;
}

static void
conn_free(struct ccred_conn *cc)
{
	cc->c->conns--;
	TAILQ_REMOVE(&cc->c->conns_list, cc, link);
	bufferevent_free(cc->bev);
	free(cc);
}

static void
conn_written(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_free(arg);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_free(arg);
}

/* Answers the one request of the connection and closes it once the
 * answer is written. */
static void
conn_answer(struct ccred_conn *cc, uint32_t type, const json_t *body)
{
	_cleanup_free_ char	*out = NULL;
	size_t			 len;

	bufferevent_disable(cc->bev, EV_READ);
	if (cipc_encode(type, body, &out, &len) < 0 ||
	    bufferevent_write(cc->bev, out, len) < 0) {
		conn_free(cc);
		return;
	}
	bufferevent_setcb(cc->bev, NULL, conn_written, conn_event, cc);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct ccred_conn	*cc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	_cleanup_json_ json_t	*req = NULL, *rep = NULL, *e = NULL;
	_cleanup_free_ char	*err = NULL;
	size_t			 have = evbuffer_get_length(in), total;
	uint32_t		 type;
	int			 r;

	r = cipc_frame_len(evbuffer_pullup(in, have < CIPC_HEADER ? -1 :
	    CIPC_HEADER), have, &total, &err);
	if (r == -EAGAIN || (r == 0 && have < total))
		return;
	if (r == 0)
		r = cipc_parse(evbuffer_pullup(in, -1), have, &type, &req, &err);
	if (r == 0 && type == CIPC_CRED)
		r = handle_cred(cc, req, &rep, &err);
	else if (r == 0 && type == CIPC_EVENT)
		r = handle_event(cc, req, &rep, &err);
	else if (r == 0)
		r = errf(-BW_E_INVALID, &err, "console message type %u", type);
	if (r == 0) {
		conn_answer(cc, type == CIPC_CRED ? CIPC_CRED_OK : CIPC_OK, rep);
		return;
	}
	e = json_pack("{s:s}", "error", err ? err : bw_strerror(r));
	if (!e) {
		conn_free(cc);
		return;
	}
	conn_answer(cc, CIPC_ERROR, e);
}

static void
on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct ccred		*c = arg;
	struct ccred_conn	*cc;
	struct ucred		 uc;
	socklen_t		 ul = sizeof(uc);
	struct timeval		 tv = { CCRED_TIMEOUT_S, 0 };
	struct authz_identity	 id;
	char			 why[96], src[64];

	(void)lis;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) < 0 ||
	    uc.uid != 0 || c->conns >= CCRED_CONNS_MAX) {
		snprintf(src, sizeof(src), "uid %ld pid %ld",
		    ul == sizeof(uc) ? (long)uc.uid : -1L,
		    ul == sizeof(uc) ? (long)uc.pid : -1L);
		console_identity(src, "peercred", &id);
		snprintf(why, sizeof(why), c->conns >= CCRED_CONNS_MAX ?
		    "too many console connections" : "peer is not root");
		api_audit(c->srv, &id, "console.connect", NULL, NULL, NULL,
		    "denied", why);
		close(fd);
		return;
	}
	if (!(cc = calloc(1, sizeof(*cc))) ||
	    !(cc->bev = bufferevent_socket_new(c->base, fd,
	    BEV_OPT_CLOSE_ON_FREE))) {
		free(cc);
		close(fd);
		return;
	}
	cc->c = c;
	c->conns++;
	TAILQ_INSERT_TAIL(&c->conns_list, cc, link);
	snprintf(cc->source, sizeof(cc->source), "console uid %ld pid %ld",
	    (long)uc.uid, (long)uc.pid);
	bufferevent_setwatermark(cc->bev, EV_READ, 0, CIPC_HEADER + CIPC_BODY_MAX);
	bufferevent_set_timeouts(cc->bev, &tv, &tv);
	bufferevent_setcb(cc->bev, conn_read, NULL, conn_event, cc);
	bufferevent_enable(cc->bev, EV_READ);
}

/* A listening socket at PATH, 0600 (no other user may even connect). */
static int
listen_unix(const char *path, int *ret_fd)
{
	struct sockaddr_un	 sa = { .sun_family = AF_UNIX };
	struct stat		 st;
	_cleanup_close_ int	 fd = -1;
	mode_t			 old;
	int			 r = 0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	umask(old);
	if (r < 0)
		return r;
	if (listen(fd, 16) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int
ccred_open(struct event_base *base, const struct ccred_options *o,
    struct ccred **ret, char **ret_err)
{
	struct ccred	*c;
	int		 fd = -1, r, n;

	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	n = snprintf(c->sock_path, sizeof(c->sock_path), "%s/" CIPC_SOCKET,
	    o->data_dir);
	snprintf(c->users_path, sizeof(c->users_path), "%s/" CCRED_USERS_FILE,
	    o->data_dir);
	snprintf(c->pkidir, sizeof(c->pkidir), "%s", o->pkidir);
	snprintf(c->ca_path, sizeof(c->ca_path), "%s/ca.crt", o->pkidir);
	snprintf(c->server_url, sizeof(c->server_url), "%s", o->server_url);
	snprintf(c->console_config, sizeof(c->console_config), "%s",
	    o->console_config ?: "");
	TAILQ_INIT(&c->conns_list);
	c->base = base;
	c->identity = o->identity;
	c->srv = o->srv;
	if (n < 0 || (size_t)n >= sizeof(c->sock_path)) {
		free(c);
		return errf(-ENAMETOOLONG, ret_err, "console socket: %s/%s: "
		    "path too long", o->data_dir, CIPC_SOCKET);
	}
	if ((r = listen_unix(c->sock_path, &fd)) < 0) {
		errf(r, ret_err, "console socket %s: %s", c->sock_path,
		    strerror(-r));
		free(c);
		return r;
	}
	if (!(c->lis = evconnlistener_new(base, on_accept, c,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd))) {
		close(fd);
		unlink(c->sock_path);
		free(c);
		return errf(-ENOMEM, ret_err, "console socket: no listener");
	}
	*ret = c;
	return 0;
}

void
ccred_close(struct ccred *c)
{
	if (!c)
		return;
	evconnlistener_free(c->lis);
	unlink(c->sock_path);
	/* each open connection points at C: drop them first */
	while (!TAILQ_EMPTY(&c->conns_list))
		conn_free(TAILQ_FIRST(&c->conns_list));
	free(c);
}

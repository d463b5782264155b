/* bulwark-console: the appliance's hardened terminal console; see
 * bulwark-console(8). An AC-8 banner to acknowledge, a PAM login with
 * pam_faillock's lockout (AC-7) that changes an expired password on
 * its own screen (IA-5), the last logins (AC-9), a lock after
 * idle time that hides the screen (AC-11), an end after the maximum
 * session length (AC-12), then the dashboard read through the API. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>
#include <openssl/crypto.h>

#include "client/client.h"
#include "console/console-audit.h"
#include "console/browser.h"
#include "console/console-conf.h"
#include "console/credential.h"
#include "console/faillock.h"
#include "console/login-record.h"
#include "console/pam-auth.h"
#include "console/screen.h"
#include "privsep/console-ipc.h"
#include "lib/err.h"
#include "lib/opt-help.h"

#define PASSWORD_MAX	256
#define ARGS_OK		(-2)	/* parse_args(): no exit, run */

/* What a wait in a session ended with, besides a key. */
enum {
	WAIT_END = BR_KEY_END,		/* logged out: lockout, signal, expiry */
	WAIT_REDRAW = BR_KEY_REDRAW,	/* the screen was locked and is unlocked */
	WAIT_TICK = BR_KEY_TICK,	/* a second passed without a key */
};

struct session {
	const struct console_conf	*conf;
	int				 readonly;	/* --readonly */
	int				 recdir;
	const char			*tty;
	char				 user[LREC_USER_MAX + 1];
	struct cpam			*pam;
	time_t				 end_at;
	time_t				 last_key;
};

static volatile sig_atomic_t quit;
/* shown under the banner: why the last session ended */
static char end_note[256];
/* the password buffer: locked in memory, wiped after each use */
static char password[PASSWORD_MAX];

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

/* No core dump can hold a password or a session's data; no key sends
 * a signal; a hang-up or SIGTERM ends the session cleanly. */
static int
harden(void)
{
	struct rlimit		 zero = { 0, 0 };
	struct sigaction	 sa = { .sa_handler = on_signal };
	static const int	 ignored[] = { SIGINT, SIGQUIT, SIGTSTP, SIGPIPE,
	    SIGTTIN, SIGTTOU };
	size_t			 i;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    setrlimit(RLIMIT_CORE, &zero) < 0)
		return -errno;
	umask(077);
	for (i = 0; i < ELEMENTSOF(ignored); i++)
		signal(ignored[i], SIG_IGN);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	tui_set_stop(&quit);
	/* best effort: without CAP_IPC_LOCK a small lock still fits the
	 * default RLIMIT_MEMLOCK */
	mlock(password, sizeof(password));
	return 0;
}

static void
wipe_password(void)
{
	OPENSSL_cleanse(password, sizeof(password));
}

static const char *
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!t || !gmtime_r(&t, &tm))
		snprintf(buf, len, "never");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

/* AC-8: the notice stays until Enter acknowledges it. Returns 0, or
 * WAIT_END on a signal. */
static int
banner(const struct console_conf *conf)
{
	int c;

	tui_wipe();
	tui_print(0, 0, 1, "SYSTEM USE NOTIFICATION");
	tui_text(2, conf->banner);
	/* up to three lines, wrapped: a note may say what to do next */
	tui_text(LINES - 4, end_note);
	tui_keys("Enter: I have read and consent to these conditions");
	refresh();
	do {
		if (quit)
			return WAIT_END;
		c = tui_key();
	} while (c != '\r' && c != '\n' && c != KEY_ENTER);
	end_note[0] = '\0';
	return 0;
}

/* 1 when USER's account is locked now (pam_faillock's tally). */
static int
is_locked(const struct session *s, const char *user)
{
	struct flk_status fs;

	return getpwnam(user) && flk_status(&s->conf->faillock, user,
	    time(NULL), &fs) == 0 && fs.locked;
}

/* After a failed password for USER: records it, and says into MSG
 * whether the account is locked (AC-7): a failure that locked it is the
 * lockout, one while WAS_LOCKED a refusal. Returns 1 when locked. */
static int
note_failure(const struct session *s, const char *user, int recdir,
    enum caud_event ev, int was_locked, char *msg, size_t len)
{
	struct flk_status	 fs = { 0 };
	char			 until[40], detail[96];
	int			 known = getpwnam(user) != NULL;

	if (known)
		lrec_note(recdir, user, 0, time(NULL), s->tty);
	if (known && flk_status(&s->conf->faillock, user, time(NULL), &fs) == 0 &&
	    fs.locked) {
		snprintf(detail, sizeof(detail), "%d failures%s", fs.failures,
		    was_locked ? ", account locked" : "");
		caud_event(user, was_locked ? ev : CAUD_LOCKOUT, detail);
		if (fs.locked_until)
			fmt_time(fs.locked_until, until, sizeof(until));
		snprintf(msg, len, "%saccount %s is LOCKED\nafter %d failed "
		    "logins, until %s%san administrator unlocks it.",
		    was_locked ? "Login refused: " : "Too many failures: ",
		    user, fs.failures, fs.locked_until ? until : "",
		    fs.locked_until ? "\nor until " : "");
		return 1;
	}
	caud_event(user, ev, known ? NULL : "unknown user");
	snprintf(msg, len, ev == CAUD_LOGIN_FAILED ? "Login incorrect." :
	    "Password incorrect: the screen stays locked.");
	return 0;
}

/* AC-9: what the user's record said before this login. */
static void
show_last_logins(const struct lrec *prev, const char *user)
{
	char t[40];
	int  y = 2;

	tui_wipe();
	tui_print(0, 0, 1, "Bulwark console: welcome, %s", user);
	tui_print(y++, 0, 0, "Last successful login: %s%s%s",
	    fmt_time(prev->last_success, t, sizeof(t)),
	    prev->last_success ? " on " : "", prev->last_success ?
	    prev->last_success_from : "");
	tui_print(y++, 0, 0, "Last failed login:     %s%s%s",
	    fmt_time(prev->last_failure, t, sizeof(t)),
	    prev->last_failure ? " on " : "", prev->last_failure ?
	    prev->last_failure_from : "");
	tui_print(y++, 0, prev->failures > 0, "Failed logins since the last "
	    "successful one: %d", prev->failures);
	tui_keys("Enter: continue to the dashboard");
	refresh();
}

/* After the right password at the lock screen was refused by the
 * account stack (R: -EKEYEXPIRED, its password expired meanwhile, or
 * -BW_E_DENIED, PAM's reason in PMSG): the session ends, recorded as
 * such (the failed unlock alone would not say it), and the note on the
 * banner says what happened and what to do. Not a failed password:
 * nothing counts towards the lockout. */
static int
unlock_refused(const struct session *s, int r, const char *pmsg)
{
	if (r == -EKEYEXPIRED) {
		caud_event(s->user, CAUD_UNLOCK_FAILED, "password expired");
		caud_event(s->user, CAUD_EXPIRED, "password expired at unlock");
		snprintf(end_note, sizeof(end_note), "The password of %s has "
		    "expired: the session ended.\nLog in again: the login "
		    "asks for a new password.", s->user);
	} else {
		caud_event(s->user, CAUD_UNLOCK_FAILED, pmsg[0] ? pmsg :
		    "account may not log in");
		caud_event(s->user, CAUD_EXPIRED,
		    "account refused at unlock");
		snprintf(end_note, sizeof(end_note), "%s may not log in now: "
		    "the session ended.\n%.90s%sAsk an administrator.",
		    s->user, pmsg, pmsg[0] ? "\n" : "");
	}
	return WAIT_END;
}

/* The console ends the session (S's maximum length reached, or QUIT:
 * a hang-up or SIGTERM), unlocked or at the lock screen alike: the end
 * is recorded, and the banner says why after the maximum length.
 * Returns WAIT_END. */
static int
session_expired(const struct session *s)
{
	if (quit) {
		caud_event(s->user, CAUD_EXPIRED, "signal");
		return WAIT_END;
	}
	snprintf(end_note, sizeof(end_note), "The session of %s ended: the "
	    "maximum session length (%d s) was reached.", s->user,
	    s->conf->session_max);
	caud_event(s->user, CAUD_EXPIRED, NULL);
	return WAIT_END;
}

/* AC-11: hides everything, then needs the user's password through PAM
 * again. Returns 0 when unlocked, WAIT_END when the session must end
 * (lockout, an expired password or account, signal, maximum length). */
static int
lock_screen(struct session *s, int recdir)
{
	char	msg[CPAM_MSG_MAX] = "", pmsg[CPAM_MSG_MAX];
	int	r, was_locked;

	caud_event(s->user, CAUD_LOCK, NULL);
	for (;;) {
		tui_wipe();
		tui_print(0, 0, 1, "CONSOLE LOCKED");
		tui_print(2, 0, 0, "This console is locked. Only %s can unlock "
		    "it, with the password.", s->user);
		tui_text(5, msg);
		tui_keys("Enter the password, then Enter");
		r = tui_read(3, "Password:", password, sizeof(password), 1,
		    s->conf->idle_timeout, s->end_at);
		if (quit || r == TUI_EXPIRED) {
			wipe_password();	/* Enter may have come first */
			return session_expired(s);
		}
		if (r != 0)
			continue;	/* idle or Esc: stay locked */
		was_locked = is_locked(s, s->user);
		r = cpam_reauth(s->pam, password, pmsg, sizeof(pmsg));
		wipe_password();
		if (r == 0) {
			caud_event(s->user, CAUD_UNLOCK, NULL);
			s->last_key = time(NULL);
			return WAIT_REDRAW;
		}
		if (r == -EKEYEXPIRED || r == -BW_E_DENIED)
			return unlock_refused(s, r, pmsg);
		if (note_failure(s, s->user, recdir, CAUD_UNLOCK_FAILED,
		    was_locked, msg, sizeof(msg))) {
			/* the lockout (or the refusal) does not say that
			 * the session ended */
			caud_event(s->user, CAUD_EXPIRED,
			    "account locked at unlock");
			snprintf(end_note, sizeof(end_note), "%s", msg);
			return WAIT_END;
		}
	}
}

/* Waits a second for a key; applies the idle lock and the session's
 * end. Returns the key, WAIT_TICK, WAIT_REDRAW or WAIT_END. */
static int
session_wait(struct session *s, int recdir)
{
	time_t	now;
	int	c = tui_key();

	now = time(NULL);
	if (quit || now >= s->end_at)
		return session_expired(s);
	if (c != ERR) {
		s->last_key = now;
		return c;
	}
	if (now - s->last_key >= s->conf->idle_timeout)
		return lock_screen(s, recdir);
	return WAIT_TICK;
}

/* The API credential of the session: a certificate for the principal
 * mapped to the user PAM authenticated, from bulwarkd's console socket,
 * valid for the rest of the session. Only when the socket is absent or
 * refuses connections and the configuration opts in (fallback_credential)
 * the configured client credential instead: a user bulwarkd refused (no
 * mapping, a bad one) never gets another principal's view. Why there is
 * no certificate goes to WHY (LEN bytes). Returns 0 with *RET_CRED or
 * *RET_CONF, or -BW_E_UNAUTH without a credential. */
static int
session_credential(const struct session *s, struct cred **ret_cred,
    struct client_conf *ret_conf, char *why, size_t len)
{
	_cleanup_free_ char	*err = NULL, *cerr = NULL;
	long			 life = (long)(s->end_at - time(NULL));
	int			 r;

	why[0] = '\0';
	if (life < CIPC_LIFETIME_MIN)
		life = CIPC_LIFETIME_MIN;
	if ((r = cred_fetch(s->conf->credential_socket, cpam_user(s->pam),
	    s->tty, (int)life, ret_cred, &err)) == 0)
		return 0;
	caud_note(s->user, "session certificate", err);
	snprintf(why, len, "%.100s", err ? err : "?");
	/* bulwarkd answered (and refused), or no opt-in: no credential */
	if ((r != -ENOENT && r != -ECONNREFUSED) ||
	    !s->conf->fallback_credential)
		return -BW_E_UNAUTH;
	if (client_conf_load(s->conf->client_config, ret_conf, &cerr) == 0)
		return 0;
	snprintf(why, len, "no credential: %.100s; %.100s", err ? err : "?",
	    cerr ? cerr : "?");
	return -BW_E_UNAUTH;
}

static int
browser_wait(void *arg)
{
	struct session *s = arg;

	return session_wait(s, s->recdir);
}

static int
browser_lock(void *arg)
{
	struct session *s = arg;

	return lock_screen(s, s->recdir);
}

/* The screens (browser.h) until the user logs out or the session ends. */
static void
dashboard(struct session *s, int recdir)
{
	struct client_conf	 cc = { 0 };
	struct cred		*cred = NULL;
	char			 header[256], why[256];
	struct browser_env	 env = { .wait = browser_wait,
	    .lock = browser_lock, .arg = s, .header = header, .why = why,
	    .refresh_s = s->conf->refresh, .readonly = s->readonly };

	s->recdir = recdir;
	if (session_credential(s, &cred, &cc, why, sizeof(why)) == 0) {
		env.conf = cred ? &cred->conf : &cc;
		env.ctx = cred ? cred->ctx : NULL;
	}
	snprintf(header, sizeof(header), "Bulwark console | %s on %s",
	    s->user, s->tty);
	if (browser_run(&env))
		caud_event(s->user, CAUD_LOGOUT, NULL);
	cred_free(cred);
	client_conf_clear(&cc);
}

/* The session after PAM accepted the user: last logins, then the
 * dashboard. */
static void
session_run(struct session *s, int recdir)
{
	struct lrec	prev = { 0 };
	int		c;

	lrec_read(recdir, s->user, &prev);
	lrec_note(recdir, s->user, 1, time(NULL), s->tty);
	caud_event(s->user, CAUD_LOGIN, NULL);
	s->last_key = time(NULL);
	s->end_at = s->last_key + s->conf->session_max;
	do {
		show_last_logins(&prev, s->user);
		c = session_wait(s, recdir);
	} while (c != WAIT_END && c != '\r' && c != '\n' && c != KEY_ENTER);
	if (c != WAIT_END)
		dashboard(s, recdir);
	cpam_logout(s->pam);
	s->pam = NULL;
	tui_wipe();
}

/* AC-10: one of the user's session slots (an fd) for the session PAM
 * just opened; or, after closing that session with the reason in MSG,
 * a negative error (-EBUSY: all of the user's slots are taken). */
static int
claim_session(struct session *s, int recdir, char *msg, size_t len)
{
	int fd = lrec_session_claim(recdir, s->user, s->conf->max_sessions);

	if (fd >= 0)
		return fd;
	cpam_logout(s->pam);
	s->pam = NULL;
	caud_event(s->user, CAUD_SESSION_LIMIT, fd == -EBUSY ?
	    "all sessions in use" : strerror(-fd));
	if (fd == -EBUSY)
		snprintf(msg, len, "Too many sessions: %s already has %d open "
		    "(the limit).\nLog out of one first.", s->user,
		    s->conf->max_sessions);
	else
		snprintf(msg, len, "Session refused for %s: %s.", s->user,
		    strerror(-fd));
	return fd;
}

/* The expired-password change on the login screen (cpam_prompter):
 * PAM's prompts and the modules' messages, such as pam_pwquality's
 * refusal of a new password. */
struct change_screen {
	const struct session	*s;
	char			 note[CPAM_MSG_MAX * 2];	/* newest last */
};

static void
change_show(void *arg, const char *text, int error)
{
	struct change_screen	*c = arg;
	size_t			 n = strlen(c->note);

	(void)error;
	/* the oldest messages go first when the newest would not fit */
	if (n + strlen(text) + 2 > sizeof(c->note))
		n = 0;
	snprintf(c->note + n, sizeof(c->note) - n, "%s%s", n ? "\n" : "",
	    text);
}

/* Asks one of PAM's prompts; gives up (the change fails) when the user
 * presses Esc, sits idle or the console is told to stop. */
static int
change_ask(void *arg, const char *prompt, int echo, char *buf, size_t len)
{
	struct change_screen	*c = arg;
	int			 r;

	/* the login password was used up by pam_authenticate: it does not
	 * stay in memory while the new one is typed */
	wipe_password();
	tui_wipe();
	tui_print(0, 0, 1, "Password change required: %s", c->s->user);
	tui_print(1, 0, 0, "The password has expired: choose a new one to "
	    "log in.");
	tui_text(6, c->note);
	tui_keys("Enter after each field; Esc: cancel the login");
	r = tui_read(3, prompt, buf, len, !echo, c->s->conf->idle_timeout, 0);
	return r != 0 || quit ? 1 : 0;
}

/* PAM's login of S->user with the password typed, changing an expired
 * password on the way (*CHANGE says how that went; either outcome is
 * recorded). Returns what cpam_login() returns, its message in PMSG. */
static int
pam_login(struct session *s, enum cpam_change *change, char *pmsg,
    size_t len)
{
	struct change_screen	cs = { .s = s };
	struct cpam_prompter	ask = { change_show, change_ask, &cs,
	    CPAM_CHANGE_NONE };
	int			r;

	r = cpam_login(s->conf->pam_service, s->user, password, s->tty, &ask,
	    &s->pam, pmsg, len);
	wipe_password();
	*change = ask.change;
	if (ask.change == CPAM_CHANGED)
		caud_event(s->user, CAUD_PASSWORD_CHANGED, NULL);
	else if (ask.change == CPAM_CHANGE_FAILED)
		caud_event(s->user, CAUD_PASSWORD_CHANGE_FAILED,
		    pmsg[0] ? pmsg : NULL);
	return r;
}

/* The login prompt, after the banner: until a login succeeds (the
 * session runs, then 0), or the prompt sits idle (back to the banner). */
static int
login(const struct console_conf *conf, const char *tty, int recdir,
    int readonly)
{
	struct session	s = { .conf = conf, .tty = tty, .readonly = readonly };
	char		msg[CPAM_MSG_MAX] = "", pmsg[CPAM_MSG_MAX];
	int		r, was_locked, slot = -1;
	enum cpam_change change;

	for (;;) {
		tui_wipe();
		tui_print(0, 0, 1, "Bulwark console login");
		tui_text(6, msg);
		tui_keys("Enter after each field; Esc: back to the notice");
		r = tui_read(2, "Login:", s.user, sizeof(s.user), 0,
		    conf->idle_timeout, 0);
		if (r != 0 || quit)
			return 0;
		if (!lrec_valid_user(s.user)) {
			snprintf(msg, sizeof(msg), "Login incorrect.");
			continue;
		}
		r = tui_read(3, "Password:", password, sizeof(password), 1,
		    conf->idle_timeout, 0);
		if (r != 0 || quit) {
			wipe_password();	/* Enter may have come first */
			return 0;
		}
		was_locked = is_locked(&s, s.user);
		r = pam_login(&s, &change, pmsg, sizeof(pmsg));
		if (r == 0 && (slot = claim_session(&s, recdir, msg,
		    sizeof(msg))) >= 0)
			break;
		if (r == 0)
			continue;
		if (r == -BW_E_UNAUTH || r == -BW_E_DENIED)
			note_failure(&s, s.user, recdir, CAUD_LOGIN_FAILED,
			    was_locked, msg, sizeof(msg));
		else
			snprintf(msg, sizeof(msg), "Login unavailable: %s",
			    bw_strerror(r));
		if (change == CPAM_CHANGE_FAILED)
			snprintf(msg, sizeof(msg), "Password not changed: %.200s\n"
			    "Login incorrect.", pmsg[0] ? pmsg : "?");
		else if (r == -BW_E_DENIED && pmsg[0])
			snprintf(msg, sizeof(msg), "%s", pmsg);
	}
	session_run(&s, recdir);
	close(slot);
	return 0;
}

static const struct opt_help options[] = {
	{ "config", 'c', "FILE", "the console's configuration (default "
	    CONSOLE_CONF_DEFAULT ")" },
	{ "help", 'h', NULL, "show this help" },
	{ "readonly", 'r', NULL, "offer no action that changes anything "
	    "(whatever the role may do)" },
	{ "version", 'V', NULL, "show the version" },
};

static void
usage(FILE *f)
{
	fprintf(f, "Usage: bulwark-console [--config FILE] [--readonly]\n"
	    "The appliance's terminal console; see bulwark-console(8).\n\n");
	opt_help_print(f, options, ELEMENTSOF(options));
}

/* Parses the arguments into *RET_PATH; returns ARGS_OK to go on, else
 * the exit code. */
static int
parse_args(int argc, char **argv, const char **ret_path, int *ret_readonly)
{
	struct option	longopts[ELEMENTSOF(options) + 1];
	int		c;

	opt_help_longopts(options, ELEMENTSOF(options), longopts);
	while ((c = getopt_long(argc, argv, "c:hrV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*ret_path = optarg;
			break;
		case 'r':
			*ret_readonly = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("bulwark-console %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return ARGS_OK;
}

int
main(int argc, char **argv)
{
	struct console_conf	 conf;
	_cleanup_free_ char	*err = NULL;
	const char		*path = CONSOLE_CONF_DEFAULT, *tty;
	int			 r, recdir, readonly = 0;

	if ((r = parse_args(argc, argv, &path, &readonly)) != ARGS_OK)
		return r;
	if ((r = harden()) < 0) {
		fprintf(stderr, "bulwark-console: hardening: %s\n", strerror(-r));
		return 1;
	}
	if ((r = console_conf_load(path, &conf, &err)) < 0) {
		fprintf(stderr, "bulwark-console: %s\n", err ? err : bw_strerror(r));
		return 1;
	}
	if ((recdir = lrec_open_dir(conf.state_dir)) < 0) {
		fprintf(stderr, "bulwark-console: %s: %s\n", conf.state_dir,
		    strerror(-recdir));
		console_conf_clear(&conf);
		return 1;
	}
	if (!isatty(STDIN_FILENO) || tui_init() < 0) {
		fprintf(stderr, "bulwark-console: needs a terminal\n");
		close(recdir);
		console_conf_clear(&conf);
		return 1;
	}
	tty = ttyname(STDIN_FILENO);
	caud_open(recdir, tty, conf.credential_socket);
	while (!quit && banner(&conf) == 0)
		login(&conf, tty ? tty : "?", recdir, readonly);
	tui_end();
	caud_close();
	close(recdir);
	console_conf_clear(&conf);
	return 0;
}

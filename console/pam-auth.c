/* PAM for the console; see pam-auth.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <security/pam_appl.h>

#include "console/pam-auth.h"
#include "lib/err.h"

struct cpam {
	pam_handle_t	*h;
	char		 service[64];
	char		 user[64];
	char		 pam_user[64];	/* PAM_USER after authentication */
	char		 tty[64];
};

struct conv_data {
	const char		*user;
	const char		*password;
	char			*msg;
	size_t			 msglen;
	/* while an expired password is changed: prompts go to the user */
	struct cpam_prompter	*ask;
	int			 changing;
	int			 prompts;	/* asked in this change */
	int			 cancelled;	/* the user gave up the change */
	/* the account stack said the password expired (and no change
	 * made it good) */
	int			 expired;
	/* pam_authenticate accepted the password: a refusal after it is
	 * the account stack's, not a wrong password */
	int			 authenticated;
};

static void
free_replies(struct pam_response *rep, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (rep[i].resp) {
			OPENSSL_cleanse(rep[i].resp, strlen(rep[i].resp));
			free(rep[i].resp);
		}
	free(rep);
}

/* While an expired password is changed: asks the user PAM's prompt M
 * on the console's screen into *RET. At most CPAM_CHANGE_PROMPTS_MAX
 * prompts per change, and a user who gives up ends it. */
static int
ask_user(struct conv_data *d, const struct pam_message *m, char **ret)
{
	char	buf[PAM_MAX_RESP_SIZE];
	int	pr = PAM_SUCCESS;

	if (++d->prompts > CPAM_CHANGE_PROMPTS_MAX)
		return PAM_CONV_ERR;
	if (d->ask->ask(d->ask->arg, m->msg ? m->msg : "Password:",
	    m->msg_style == PAM_PROMPT_ECHO_ON, buf, sizeof(buf)) != 0) {
		d->cancelled = 1;
		pr = PAM_CONV_ERR;
	} else if (!(*ret = strdup(buf)))
		pr = PAM_BUF_ERR;
	OPENSSL_cleanse(buf, sizeof(buf));
	return pr;
}

/* Answers one prompt into *RET: during a change the user's answer,
 * else the password (echo off) or the user name (echo on). */
static int
answer(struct conv_data *d, const struct pam_message *m, char **ret)
{
	const char *ans;

	if (d->changing)
		return ask_user(d, m, ret);
	ans = m->msg_style == PAM_PROMPT_ECHO_OFF ? d->password : d->user;
	if (!(*ret = strdup(ans ? ans : "")))
		return PAM_BUF_ERR;
	return PAM_SUCCESS;
}

/* Answers a password prompt with the password and a name prompt with
 * the user; keeps info and error messages. The password is handed over
 * once per transaction's prompts, never drawn. While an expired
 * password is changed, prompts and messages go to the user instead. */
static int
conv(int n, const struct pam_message **msgs, struct pam_response **ret,
    void *arg)
{
	struct conv_data	*d = arg;
	struct pam_response	*rep;
	int			 i, pr;

	if (n <= 0 || n > PAM_MAX_NUM_MSG || !(rep = calloc((size_t)n, sizeof(*rep))))
		return PAM_CONV_ERR;
	for (i = 0; i < n; i++) {
		switch (msgs[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			if ((pr = answer(d, msgs[i], &rep[i].resp)) != PAM_SUCCESS) {
				free_replies(rep, n);
				return pr;
			}
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			/* during a change only an error is the reason it
			 * failed ("Changing password for dave." is not) */
			if (d->msg && msgs[i]->msg && (!d->changing ||
			    msgs[i]->msg_style == PAM_ERROR_MSG))
				snprintf(d->msg, d->msglen, "%s", msgs[i]->msg);
			if (d->changing && msgs[i]->msg)
				d->ask->show(d->ask->arg, msgs[i]->msg,
				    msgs[i]->msg_style == PAM_ERROR_MSG);
			break;
		default:
			free_replies(rep, n);
			return PAM_CONV_ERR;
		}
	}
	*ret = rep;
	return PAM_SUCCESS;
}

static struct conv_data idle_data;
static const struct pam_conv idle_conv = { conv, &idle_data };

static int
map_pam(int pr)
{
	switch (pr) {
	case PAM_SUCCESS:
		return 0;
	case PAM_AUTH_ERR:
	case PAM_USER_UNKNOWN:
	case PAM_MAXTRIES:
	case PAM_CRED_INSUFFICIENT:
		return -BW_E_UNAUTH;
	case PAM_ACCT_EXPIRED:
	case PAM_AUTHTOK_EXPIRED:	/* expired past the inactivity period */
	case PAM_NEW_AUTHTOK_REQD:
	case PAM_PERM_DENIED:
		return -BW_E_DENIED;
	default:
		return -BW_E_UNAVAILABLE;
	}
}

/* The account stack said the password expired: the password stack
 * changes it now, asking the user (as login(1) does), once. The
 * modules' own retries (pam_pwquality's retry=) and
 * CPAM_CHANGE_PROMPTS_MAX bound it. Returns PAM's answer; any failure
 * leaves PAM's reason in D->msg ("cancelled" when the user gave up). */
static int
change_expired(pam_handle_t *h, struct conv_data *d)
{
	int pr;

	/* what the account stack said ("You are required to change your
	 * password immediately") heads the change */
	if (d->msg && d->msg[0])
		d->ask->show(d->ask->arg, d->msg, 0);
	if (d->msg && d->msglen)
		d->msg[0] = '\0';
	/* the login password was used up by pam_authenticate: no prompt
	 * of the change is answered with it */
	d->password = NULL;
	d->changing = 1;
	d->prompts = 0;
	d->cancelled = 0;
	pr = pam_chauthtok(h, PAM_CHANGE_EXPIRED_AUTHTOK);
	d->changing = 0;
	d->ask->change = pr == PAM_SUCCESS ? CPAM_CHANGED : CPAM_CHANGE_FAILED;
	if (pr != PAM_SUCCESS && d->msg && d->msglen && d->cancelled)
		snprintf(d->msg, d->msglen, "cancelled");
	else if (pr != PAM_SUCCESS && d->msg && d->msglen && !d->msg[0])
		snprintf(d->msg, d->msglen, "%s", pam_strerror(h, pr));
	return pr;
}

/* Starts a transaction and authenticates and checks the account,
 * changing an expired password when D can ask the user. */
static int
auth_account(const char *service, const char *user, const char *tty,
    struct conv_data *d, pam_handle_t **ret)
{
	struct pam_conv	 pc = { conv, d };
	pam_handle_t	*h = NULL;
	int		 pr;

	if ((pr = pam_start(service, user, &pc, &h)) != PAM_SUCCESS)
		return -BW_E_UNAVAILABLE;
	if ((pr = pam_set_item(h, PAM_TTY, tty)) == PAM_SUCCESS &&
	    (pr = pam_set_item(h, PAM_RUSER, user)) == PAM_SUCCESS &&
	    (pr = pam_authenticate(h, PAM_DISALLOW_NULL_AUTHTOK)) == PAM_SUCCESS) {
		d->authenticated = 1;
		pr = pam_acct_mgmt(h, PAM_DISALLOW_NULL_AUTHTOK);
		/* only the account stack's answer leads to a change: the
		 * same code from pam_authenticate would skip the account
		 * checks (faillock, expiry), so it is a refusal */
		if (pr == PAM_NEW_AUTHTOK_REQD && d->ask &&
		    change_expired(h, d) == PAM_SUCCESS)
			pr = PAM_SUCCESS;
		d->expired = pr == PAM_NEW_AUTHTOK_REQD;
	}
	if (pr != PAM_SUCCESS) {
		pam_end(h, pr);
		return map_pam(pr);
	}
	*ret = h;
	return 0;
}

int
cpam_login(const char *service, const char *user, const char *password,
    const char *tty, struct cpam_prompter *ask, struct cpam **ret,
    char *msg, size_t msglen)
{
	struct conv_data	 d = { .user = user, .password = password,
	    .msg = msg, .msglen = msglen, .ask = ask };
	struct cpam		*s;
	pam_handle_t		*h = NULL;
	const void		*pu = NULL;
	char			 pam_user[sizeof(s->pam_user)];
	int			 r, pr;

	if (msg && msglen)
		msg[0] = '\0';
	if (ask)
		ask->change = CPAM_CHANGE_NONE;
	if ((r = auth_account(service, user, tty, &d, &h)) < 0)
		return r;
	/* copied now: PAM owns the item, and a later module may replace it */
	if ((pr = pam_get_item(h, PAM_USER, &pu)) != PAM_SUCCESS || !pu ||
	    strlen((const char *)pu) >= sizeof(pam_user)) {
		pam_end(h, pr == PAM_SUCCESS ? PAM_USER_UNKNOWN : pr);
		return -BW_E_DENIED;
	}
	snprintf(pam_user, sizeof(pam_user), "%s", (const char *)pu);
	if ((pr = pam_setcred(h, PAM_ESTABLISH_CRED)) != PAM_SUCCESS ||
	    (pr = pam_open_session(h, 0)) != PAM_SUCCESS) {
		pam_end(h, pr);
		return map_pam(pr) == 0 ? -BW_E_UNAVAILABLE : map_pam(pr);
	}
	/* the conversation's data lives on this stack: later calls (the
	 * session's close) get one that answers nothing */
	pam_set_item(h, PAM_CONV, &idle_conv);
	if (!(s = calloc(1, sizeof(*s)))) {
		pam_close_session(h, 0);
		pam_end(h, PAM_SUCCESS);
		return -ENOMEM;
	}
	s->h = h;
	snprintf(s->service, sizeof(s->service), "%s", service);
	snprintf(s->user, sizeof(s->user), "%s", user);
	snprintf(s->pam_user, sizeof(s->pam_user), "%s", pam_user);
	snprintf(s->tty, sizeof(s->tty), "%s", tty);
	*ret = s;
	return 0;
}

int
cpam_reauth(const struct cpam *s, const char *password, char *msg,
    size_t msglen)
{
	struct conv_data	 d = { .user = s->user, .password = password,
	    .msg = msg, .msglen = msglen };
	pam_handle_t		*h = NULL;
	int			 r;

	if (msg && msglen)
		msg[0] = '\0';
	/* no prompter: the lock screen changes no password, and its
	 * caller must tell an expired one from a wrong one. A denial
	 * (-BW_E_DENIED) is the right password refused only when
	 * pam_authenticate accepted it; from the auth stack (an auth
	 * line such as pam_expire's, answering before any password was
	 * checked) it says nothing of the password: a failure, as a
	 * wrong one is. */
	if ((r = auth_account(s->service, s->user, s->tty, &d, &h)) < 0) {
		if (d.expired)
			return -EKEYEXPIRED;
		return r == -BW_E_DENIED && !d.authenticated ? -BW_E_UNAUTH : r;
	}
	pam_end(h, PAM_SUCCESS);
	return 0;
}

const char *
cpam_user(const struct cpam *s)
{
	return s->pam_user;
}

void
cpam_logout(struct cpam *s)
{
	int pr;

	if (!s)
		return;
	pr = pam_close_session(s->h, 0);
	pam_setcred(s->h, PAM_DELETE_CRED);
	pam_end(s->h, pr);
	free(s);
}

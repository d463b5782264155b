/* A test-only PAM module for console-chauthtok.sh (never installed): a
 * password that expired, as pam_unix reports one after PASS_MAX_DAYS.
 *
 * auth: PAM_NEW_AUTHTOK_REQD while DIR/auth-newtok.USER exists (dir=DIR)
 *   (a stack whose authentication, not its account check, asks for a
 *   new password); PAM_PERM_DENIED while DIR/auth-denied.USER exists
 *   (an auth line that refuses the user before any password is
 *   checked: as requisite, the stack stops there); else PAM_IGNORE.
 * account: PAM_ACCT_EXPIRED, with pam_unix's message, while the file
 *   DIR/account-expired.USER exists; PAM_AUTHTOK_EXPIRED (the password
 *   expired past its inactivity period), with an error message, while
 *   DIR/authtok-expired.USER exists; PAM_NEW_AUTHTOK_REQD,
 *   with pam_unix's message, while DIR/expired.USER exists; else
 *   PAM_SUCCESS.
 * password: says "Changing password for USER." (PAM_TEXT_INFO), asks
 *   the current password, then a new one and its retype
 *   (up to retry=N tries, 3 by default); refuses a new password shorter
 *   than 12 characters as pam_pwquality words it and a retype that does
 *   not match as pam_unix words it; on success writes the new password
 *   into pam_matrix's passdb (passdb=FILE, lines user:password:service)
 *   and removes DIR/expired.USER.
 * Built by the test with the system's compiler. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

struct opts {
	const char	*dir;
	const char	*passdb;
	int		 retry;
};

static void
parse(int argc, const char **argv, struct opts *o)
{
	int i;

	o->dir = "/nonexistent";
	o->passdb = "/nonexistent";
	o->retry = 3;
	for (i = 0; i < argc; i++)
		if (strncmp(argv[i], "dir=", 4) == 0)
			o->dir = argv[i] + 4;
		else if (strncmp(argv[i], "passdb=", 7) == 0)
			o->passdb = argv[i] + 7;
		else if (strncmp(argv[i], "retry=", 6) == 0)
			o->retry = atoi(argv[i] + 6);
}

static int
flag_path(const struct opts *o, const char *user, char *buf, size_t len)
{
	return snprintf(buf, len, "%s/expired.%s", o->dir, user) < (int)len;
}

/* Whether DIR/WHAT.USER exists. */
static int
flagged(const struct opts *o, const char *what, const char *user)
{
	char path[4096];

	return snprintf(path, sizeof(path), "%s/%s.%s", o->dir, what,
	    user) < (int)sizeof(path) && access(path, F_OK) == 0;
}

int
pam_sm_authenticate(pam_handle_t *h, int flags, int argc, const char **argv)
{
	struct opts	 o;
	const char	*user = NULL;

	(void)flags;
	parse(argc, argv, &o);
	if (pam_get_user(h, &user, NULL) != PAM_SUCCESS || !user)
		return PAM_USER_UNKNOWN;
	if (flagged(&o, "auth-denied", user))
		return PAM_PERM_DENIED;
	return flagged(&o, "auth-newtok", user) ? PAM_NEW_AUTHTOK_REQD :
	    PAM_IGNORE;
}

int
pam_sm_setcred(pam_handle_t *h, int flags, int argc, const char **argv)
{
	(void)h;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_IGNORE;
}

int
pam_sm_acct_mgmt(pam_handle_t *h, int flags, int argc, const char **argv)
{
	struct opts	 o;
	const char	*user = NULL;
	char		 path[4096];

	(void)flags;
	parse(argc, argv, &o);
	if (pam_get_user(h, &user, NULL) != PAM_SUCCESS || !user ||
	    !flag_path(&o, user, path, sizeof(path)))
		return PAM_USER_UNKNOWN;
	if (flagged(&o, "account-expired", user)) {
		pam_error(h, "Your account has expired; please contact your "
		    "system administrator.");
		return PAM_ACCT_EXPIRED;
	}
	if (flagged(&o, "authtok-expired", user)) {
		pam_error(h, "Your password has expired past its inactivity "
		    "period; please contact your system administrator.");
		return PAM_AUTHTOK_EXPIRED;
	}
	if (access(path, F_OK) != 0)
		return PAM_SUCCESS;
	pam_error(h, "You are required to change your password immediately "
	    "(administrator enforced).");
	return PAM_NEW_AUTHTOK_REQD;
}

/* USER's password in PASSDB into BUF, or 0. */
static int
passdb_get(const char *passdb, const char *user, char *buf, size_t len)
{
	FILE	*f = fopen(passdb, "r");
	char	 line[1024], *p, *q;
	int	 found = 0;

	while (f && !found && fgets(line, sizeof(line), f)) {
		if (!(p = strchr(line, ':')) || (size_t)(p - line) != strlen(user) ||
		    strncmp(line, user, strlen(user)) != 0 || !(q = strchr(p + 1, ':')))
			continue;
		*q = '\0';
		found = snprintf(buf, len, "%s", p + 1) < (int)len;
	}
	if (f)
		fclose(f);
	return found;
}

/* Rewrites USER's line in PASSDB with NEWPW. Returns 0 or -errno. */
static int
passdb_set(const char *passdb, const char *user, const char *newpw)
{
	FILE	*in = fopen(passdb, "r"), *out;
	char	 line[1024], tmp[4096], *p, *q;
	int	 r;

	snprintf(tmp, sizeof(tmp), "%s.new", passdb);
	if (!in)
		return -errno;
	if (!(out = fopen(tmp, "w"))) {
		r = -errno;
		fclose(in);
		return r;
	}
	while (fgets(line, sizeof(line), in)) {
		p = strchr(line, ':');
		q = p ? strchr(p + 1, ':') : NULL;
		if (q && (size_t)(p - line) == strlen(user) &&
		    strncmp(line, user, strlen(user)) == 0)
			fprintf(out, "%s:%s%s", user, newpw, q);
		else
			fputs(line, out);
	}
	fclose(in);
	if (fclose(out) != 0 || rename(tmp, passdb) != 0) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	return 0;
}

/* Asks the new password and its retype up to O->retry times into
 * *RET. Returns PAM_SUCCESS or PAM_AUTHTOK_ERR. */
static int
ask_new(pam_handle_t *h, const struct opts *o, char **ret)
{
	char	*a = NULL, *b = NULL;
	int	 i, pr = PAM_AUTHTOK_ERR;

	for (i = 0; i < o->retry && pr != PAM_SUCCESS; i++) {
		free(a);
		free(b);
		a = b = NULL;
		if (pam_prompt(h, PAM_PROMPT_ECHO_OFF, &a, "New password: ") !=
		    PAM_SUCCESS || !a)
			return PAM_AUTHTOK_ERR;
		if (strlen(a) < 12) {
			pam_error(h, "BAD PASSWORD: The password is shorter "
			    "than 12 characters");
			continue;
		}
		if (pam_prompt(h, PAM_PROMPT_ECHO_OFF, &b,
		    "Retype new password: ") != PAM_SUCCESS || !b) {
			free(a);
			return PAM_AUTHTOK_ERR;
		}
		if (strcmp(a, b) != 0) {
			pam_error(h, "Sorry, passwords do not match.");
			free(a);
			free(b);
			return PAM_AUTHTOK_ERR;
		}
		pr = PAM_SUCCESS;
	}
	free(b);
	if (pr != PAM_SUCCESS)
		pam_error(h, "Have exhausted maximum number of retries for "
		    "service");
	if (pr == PAM_SUCCESS)
		*ret = a;
	else
		free(a);
	return pr;
}

int
pam_sm_chauthtok(pam_handle_t *h, int flags, int argc, const char **argv)
{
	struct opts	 o;
	const char	*user = NULL;
	char		 cur[256], path[4096], *old = NULL, *newpw = NULL;
	int		 pr;

	if (flags & PAM_PRELIM_CHECK)
		return PAM_SUCCESS;
	parse(argc, argv, &o);
	if (pam_get_user(h, &user, NULL) != PAM_SUCCESS || !user ||
	    !passdb_get(o.passdb, user, cur, sizeof(cur)) ||
	    !flag_path(&o, user, path, sizeof(path)))
		return PAM_USER_UNKNOWN;
	/* as pam_unix says it: an info message, never a failure's reason */
	pam_info(h, "Changing password for %s.", user);
	if (pam_prompt(h, PAM_PROMPT_ECHO_OFF, &old, "Current password: ") !=
	    PAM_SUCCESS || !old || strcmp(old, cur) != 0) {
		pam_error(h, "Authentication token manipulation error");
		free(old);
		return PAM_AUTHTOK_ERR;
	}
	free(old);
	if ((pr = ask_new(h, &o, &newpw)) != PAM_SUCCESS)
		return pr;
	pr = passdb_set(o.passdb, user, newpw) == 0 ? PAM_SUCCESS :
	    PAM_AUTHTOK_ERR;
	free(newpw);
	if (pr == PAM_SUCCESS)
		unlink(path);
	return pr;
}

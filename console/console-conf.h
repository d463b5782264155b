/* The console's configuration (console.json): the AC-8 banner, the
 * AC-11 idle lock and AC-12 session limit, the PAM service and the
 * faillock policy it uses, where the console keeps its login records,
 * and the client credential it reads the API with. */
#ifndef BW_CONSOLE_CONF_H
#define BW_CONSOLE_CONF_H

#include <stddef.h>

#define CONSOLE_CONF_DEFAULT	BW_SYSCONFDIR "/bulwark/console.json"
#define CONSOLE_BANNER_MAX	(8 * 1024)
#define CONSOLE_IDLE_DEFAULT	(15 * 60)
#define CONSOLE_SESSION_DEFAULT	(8 * 60 * 60)

struct console_faillock {
	char	*dir;		/* pam_faillock's tally directory */
	int	 deny;		/* failures that lock */
	int	 fail_interval;	/* seconds the failures must fall within */
	int	 unlock_time;	/* seconds a lock lasts; 0: until an admin unlocks */
};

struct console_conf {
	char			*banner;	/* AC-8 system use notification */
	int			 idle_timeout;	/* seconds without a key: lock (AC-11) */
	int			 session_max;	/* seconds: session ends (AC-12) */
	int			 refresh;	/* seconds between dashboard reads */
	int			 max_sessions;	/* concurrent sessions per user (AC-10) */
	char			*pam_service;
	char			*state_dir;	/* login records (mode 0700) */
	char			*credential_socket;	/* bulwarkd's console socket */
	char			*client_config;	/* API client configuration, when
						 * the socket is absent */
	int			 fallback_credential;	/* use client_config when
						 * the socket is absent (default 0) */
	struct console_faillock	 faillock;
};

/* Fills CONF with the defaults (the shipped PAM file's faillock policy:
 * 3 failures in 15 minutes lock for 3 hours). Returns 0 or -ENOMEM. */
int console_conf_defaults(struct console_conf *conf);

/* Parses LEN bytes of JSON TEXT over the defaults already in CONF.
 * Unknown keys and out-of-range values are refused with a message
 * naming the key. Returns 0 or a negative error. */
int console_conf_parse(const char *text, size_t len, struct console_conf *conf,
    char **ret_err);

/* console_conf_defaults() then the file at PATH; a missing file at the
 * default path leaves the defaults. */
int console_conf_load(const char *path, struct console_conf *conf,
    char **ret_err);

/* For what bulwarkd reports of the console (compliance facts): the file
 * at PATH over the defaults, but only a file that is there (a missing
 * one is -ENOENT, at any path), a regular file (a FIFO or device is
 * refused without waiting), owned by root and not writable by group or
 * others (-EPERM: anyone else could make it say anything). On failure
 * CONF holds nothing. */
int console_conf_load_trusted(const char *path, struct console_conf *conf,
    char **ret_err);

void console_conf_clear(struct console_conf *conf);

#endif

/* The console after login, k9s-like: the dashboard, then resource
 * lists reached with `:` (cmdline.h), the `/` filter, `d` describe,
 * `esc` back along the breadcrumbs, `?` help, the audit browser, and
 * the actions the principal's role allows (actions.h) unless the
 * console runs read-only. Everything is read through the API with the
 * session's credential. */
#ifndef BW_CONSOLE_BROWSER_H
#define BW_CONSOLE_BROWSER_H

#include <stddef.h>

struct client_conf;
typedef struct ssl_ctx_st SSL_CTX;

/* What env->wait() returns besides a key */
#define BR_KEY_END	(-1000)	/* the session ended */
#define BR_KEY_REDRAW	(-999)	/* the screen was locked and is unlocked */
#define BR_KEY_TICK	(-998)	/* a second passed without a key */
#define BR_KEY_QUIT	(-997)	/* the user asked to log out (:quit) */

struct browser_env {
	/* waits for a key, applying the idle lock and the session's end */
	int			(*wait)(void *arg);
	/* locks now: BR_KEY_REDRAW once unlocked, or BR_KEY_END */
	int			(*lock)(void *arg);
	void			 *arg;
	const struct client_conf *conf;	/* NULL: no credential */
	SSL_CTX			 *ctx;	/* the session certificate, or NULL */
	const char		 *why;	/* why there is no credential */
	const char		 *header;
	int			  refresh_s;
	int			  readonly;
};

/* One key of the console: KEY as it is typed, what it does. */
struct browser_key {
	const char	*key;
	const char	*what;
};

/* Runs the screens until the user logs out (returns 1) or the session
 * ends (returns 0). */
int browser_run(const struct browser_env *env);

/* Every key, for the help screen and the documentation. */
const struct browser_key *browser_keys(size_t *ret_n);

#endif

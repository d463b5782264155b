/* The console's configuration file; see console-conf.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "console/console-conf.h"
#include "privsep/console-ipc.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"

#define CONF_FILE_MAX	(64 * 1024)

static const char default_banner[] =
    "You are accessing a U.S. Government (USG) Information System (IS) that is\n"
    "provided for USG-authorized use only. By using this IS (which includes any\n"
    "device attached to this IS), you consent to the following conditions:\n"
    "- The USG routinely intercepts and monitors communications on this IS.\n"
    "- At any time, the USG may inspect and seize data stored on this IS.\n"
    "- Communications using, or data stored on, this IS are not private, are\n"
    "  subject to routine monitoring, interception, and search, and may be\n"
    "  disclosed or used for any USG-authorized purpose.\n";

/* An integer key: its offset in struct console_conf and its range. */
struct conf_int {
	const char	*key;
	size_t		 off;
	int		 min, max;
};

static const struct conf_int conf_ints[] = {
	{ "idle_timeout", offsetof(struct console_conf, idle_timeout), 1, 24 * 3600 },
	/* at most a day: the session certificate lasts as long */
	{ "session_max", offsetof(struct console_conf, session_max), 1,
	    CIPC_LIFETIME_MAX },
	{ "refresh", offsetof(struct console_conf, refresh), 1, 3600 },
	{ "max_sessions", offsetof(struct console_conf, max_sessions), 1, 16 },
	{ "faillock.deny", offsetof(struct console_conf, faillock.deny), 1, 100 },
	{ "faillock.fail_interval",
	    offsetof(struct console_conf, faillock.fail_interval), 1, 7 * 24 * 3600 },
	{ "faillock.unlock_time",
	    offsetof(struct console_conf, faillock.unlock_time), 0, 7 * 24 * 3600 },
};

struct conf_str {
	const char	*key;
	size_t		 off;
};

static const struct conf_str conf_strs[] = {
	{ "banner", offsetof(struct console_conf, banner) },
	{ "pam_service", offsetof(struct console_conf, pam_service) },
	{ "state_dir", offsetof(struct console_conf, state_dir) },
	{ "client_config", offsetof(struct console_conf, client_config) },
	{ "credential_socket", offsetof(struct console_conf, credential_socket) },
	{ "faillock.dir", offsetof(struct console_conf, faillock.dir) },
};

static int
set_str(char **slot, const char *v)
{
	char *c = strdup(v);

	if (!c)
		return -ENOMEM;
	free(*slot);
	*slot = c;
	return 0;
}

int
console_conf_defaults(struct console_conf *conf)
{
	*conf = (struct console_conf){ .idle_timeout = CONSOLE_IDLE_DEFAULT,
	    .session_max = CONSOLE_SESSION_DEFAULT, .refresh = 5,
	    .max_sessions = 1,
	    .faillock = { .deny = 3, .fail_interval = 900, .unlock_time = 10800 } };
	if (set_str(&conf->banner, default_banner) < 0 ||
	    set_str(&conf->pam_service, "bulwark-console") < 0 ||
	    set_str(&conf->state_dir, "/var/lib/bulwark/console") < 0 ||
	    set_str(&conf->client_config, "/var/lib/bulwark/console-client.conf") < 0 ||
	    set_str(&conf->credential_socket, "/var/lib/bulwark/console.sock") < 0 ||
	    set_str(&conf->faillock.dir, "/var/run/faillock") < 0) {
		console_conf_clear(conf);
		return -ENOMEM;
	}
	return 0;
}

/* Applies one member KEY (dotted for faillock's) with value V. */
static int
apply_key(struct console_conf *conf, const char *key, json_t *v, char **ret_err)
{
	size_t i;

	if (strcmp(key, "fallback_credential") == 0) {
		if (!json_is_boolean(v))
			return errf(-BW_E_INVALID, ret_err,
			    "%s: must be true or false", key);
		conf->fallback_credential = json_is_true(v);
		return 0;
	}
	for (i = 0; i < ELEMENTSOF(conf_ints); i++) {
		const struct conf_int *c = &conf_ints[i];

		if (strcmp(c->key, key) != 0)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < c->min ||
		    json_integer_value(v) > c->max)
			return errf(-BW_E_INVALID, ret_err,
			    "%s: must be an integer %d..%d", key, c->min, c->max);
		*(int *)((char *)conf + c->off) = (int)json_integer_value(v);
		return 0;
	}
	for (i = 0; i < ELEMENTSOF(conf_strs); i++) {
		const struct conf_str *c = &conf_strs[i];

		if (strcmp(c->key, key) != 0)
			continue;
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    (strcmp(key, "banner") == 0 ?
		    json_string_length(v) > CONSOLE_BANNER_MAX :
		    json_string_length(v) > 4096))
			return errf(-BW_E_INVALID, ret_err,
			    "%s: must be a non-empty string of at most %d bytes",
			    key, strcmp(key, "banner") == 0 ? CONSOLE_BANNER_MAX : 4096);
		return set_str((char **)((char *)conf + c->off),
		    json_string_value(v));
	}
	return errf(-BW_E_INVALID, ret_err, "%s: unknown key", key);
}

int
console_conf_parse(const char *text, size_t len, struct console_conf *conf,
    char **ret_err)
{
	_cleanup_json_ json_t	*doc = NULL;
	const char		*key, *sub;
	json_t			*v, *sv;
	char			 dotted[64];
	int			 r;

	if ((r = json_parse_bounded(text, len, 4, &doc, ret_err)) < 0)
		return r;
	if (!json_is_object(doc))
		return errf(-BW_E_INVALID, ret_err, "must be a JSON object");
	json_object_foreach(doc, key, v) {
		if (strcmp(key, "faillock") != 0) {
			if ((r = apply_key(conf, key, v, ret_err)) < 0)
				return r;
			continue;
		}
		if (!json_is_object(v))
			return errf(-BW_E_INVALID, ret_err,
			    "faillock: must be an object");
		json_object_foreach(v, sub, sv) {
			snprintf(dotted, sizeof(dotted), "faillock.%.40s", sub);
			if ((r = apply_key(conf, dotted, sv, ret_err)) < 0)
				return r;
		}
	}
	if (conf->state_dir[0] != '/' || conf->faillock.dir[0] != '/')
		return errf(-BW_E_INVALID, ret_err,
		    "state_dir and faillock.dir: must be absolute paths");
	return 0;
}

/* The defaults, then TEXT (R: the read's result) over them; CONF is
 * cleared when anything fails. */
static int
conf_from_text(const char *path, int r, const char *text, size_t len,
    struct console_conf *conf, char **ret_err)
{
	*conf = (struct console_conf){ 0 };
	if (r < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	if ((r = console_conf_defaults(conf)) < 0)
		return r;
	if ((r = console_conf_parse(text, len, conf, ret_err)) < 0) {
		errf_wrap(r, ret_err, "%s", path);
		console_conf_clear(conf);
	}
	return r;
}

int
console_conf_load(const char *path, struct console_conf *conf, char **ret_err)
{
	_cleanup_free_ char	*text = NULL;
	size_t			 len = 0;
	int			 r;

	r = read_file_at(AT_FDCWD, path, CONF_FILE_MAX, &text, &len);
	if (r == -ENOENT && strcmp(path, CONSOLE_CONF_DEFAULT) == 0)
		return console_conf_defaults(conf);
	return conf_from_text(path, r, text, len, conf, ret_err);
}

int
console_conf_load_trusted(const char *path, struct console_conf *conf,
    char **ret_err)
{
	_cleanup_free_ char	*text = NULL;
	size_t			 len = 0;
	int			 r;

	r = read_regular_at(AT_FDCWD, path, CONF_FILE_MAX, FILEIO_ROOT_OWNED,
	    &text, &len);
	return conf_from_text(path, r, text, len, conf, ret_err);
}

void
console_conf_clear(struct console_conf *conf)
{
	free(conf->banner);
	free(conf->pam_service);
	free(conf->state_dir);
	free(conf->client_config);
	free(conf->credential_socket);
	free(conf->faillock.dir);
	*conf = (struct console_conf){ 0 };
}

/* Small helpers shared by the check functions. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/macro.h"
#include "compliance/checks/checks.h"
#include "hardening/baseline.h"

#define COMP_DIR_MAX_FILES	256

void
comp_account_label(char out[COMP_ACCOUNT_LABEL_MAX], const char *name,
    size_t len, size_t lineno)
{
	size_t i, n = len;

	if (n > 0 && name[n - 1] == '$')
		n--;
	for (i = 0; i < n && i < 32; i++)
		if (!(name[i] >= 'a' && name[i] <= 'z') && name[i] != '_' &&
		    (i == 0 || !((name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '.' || name[i] == '-')))
			break;
	if (n > 0 && i == n) {
		memcpy(out, name, len);
		out[len] = '\0';
	} else
		snprintf(out, COMP_ACCOUNT_LABEL_MAX, "line %zu", lineno);
}

int
comp_read_need(struct comp_ctx *ctx, struct comp_result *res,
    const char *path, const char *subject, const char *required,
    char **ret_buf)
{
	int r;

	*ret_buf = NULL;
	r = comp_read(ctx, res, path, ret_buf, NULL);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return comp_obs_add(res, false, subject ? subject : path,
		    required, "unreadable (%s)", bw_strerror(r));
	return 0;
}

static const char *
comp_tri_str(enum comp_tri v)
{
	return v == COMP_YES ? "yes" : v == COMP_NO ? "no" : "not reported";
}

/* Names fact NAME as evidence "fact:NAME", also written to REF. */
static int
comp_fact_evidence(struct comp_result *res, const char *name, char *ref,
    size_t size)
{
	snprintf(ref, size, "fact:%s", name);
	return comp_evidence_add(res, ref, NULL, 0);
}

int
comp_fact_yes(struct comp_result *res, const char *name, enum comp_tri v)
{
	char ref[128];
	int r;

	if ((r = comp_fact_evidence(res, name, ref, sizeof(ref))) < 0)
		return r;
	return comp_obs_add(res, v == COMP_YES, ref, "yes", "%s",
	    comp_tri_str(v));
}

int
comp_fact_yes_detail(struct comp_result *res, const char *name,
    enum comp_tri v, const char *detail)
{
	char ref[128];
	int r;

	if (!detail)
		return comp_fact_yes(res, name, v);
	if ((r = comp_fact_evidence(res, name, ref, sizeof(ref))) < 0)
		return r;
	return comp_obs_add(res, v == COMP_YES, ref, "yes", "%s (%s)",
	    comp_tri_str(v), detail);
}

int
comp_fact_obs(struct comp_result *res, const char *name, bool ok,
    const char *required, const char *found)
{
	char ref[128];
	int r;

	if ((r = comp_fact_evidence(res, name, ref, sizeof(ref))) < 0)
		return r;
	return comp_obs_add(res, ok, ref, required, "%s", found);
}

int
comp_fact_range(struct comp_result *res, const char *name, long v, long min,
    long max)
{
	char ref[128], req[64];
	int r;

	snprintf(req, sizeof(req), "%ld..%ld", min, max);
	if ((r = comp_fact_evidence(res, name, ref, sizeof(ref))) < 0)
		return r;
	if (v < 0 && min >= 0)
		return comp_obs_add(res, false, ref, req, "not reported");
	return comp_obs_add(res, v >= min && v <= max, ref, req, "%ld", v);
}

/* Appends the uncommented lines of SRC to B. */
static int
comp_append_lines(struct bw_buf *b, const char *src)
{
	const char	*cursor = src, *line, *text;
	size_t		 n;
	int		 r;

	while ((line = comp_line_next(&cursor, &n, &text)))
		if ((r = bw_buf_append(b, line, n)) < 0 ||
		    (r = bw_buf_append(b, "\n", 1)) < 0)
			return r;
	return 0;
}

int
comp_read_dir_concat(struct comp_ctx *ctx, struct comp_result *res,
    const char *dir, const char *suffix, char **ret_buf)
{
	return comp_read_dir_concat_by(ctx, res, dir, suffix, hb_name_cmp,
	    ret_buf);
}

int
comp_read_dir_concat_by(struct comp_ctx *ctx, struct comp_result *res,
    const char *dir, const char *suffix,
    int (*cmp)(const void *, const void *), char **ret_buf)
{
	_cleanup_close_ int	 fd = -1;
	_cleanup_(bw_buf_done) struct bw_buf out = { 0 };
	char			*names[COMP_DIR_MAX_FILES];
	size_t			 n = 0, i, slen = strlen(suffix);
	struct dirent		*de;
	DIR			*d;
	int			 r = 0;

	if ((r = bw_buf_reserve(&out, 0)) < 0)
		return r;
	fd = comp_open(ctx, dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		if (fd == -ENOMEM)
			return fd;
		*ret_buf = bw_buf_take(&out, NULL);
		return 0;
	}
	if (!(d = fdopendir(fd)))
		return -errno;
	fd = -1;
	while ((de = readdir(d)) && n < COMP_DIR_MAX_FILES) {
		size_t nl = strlen(de->d_name);

		if (de->d_name[0] == '.' || nl < slen ||
		    strcmp(de->d_name + nl - slen, suffix))
			continue;
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	for (i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL, *buf = NULL;

		if (r < 0)
			break;
		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			path = NULL;
			r = -ENOMEM;
			break;
		}
		if (comp_read(ctx, res, path, &buf, NULL) < 0)
			continue;
		r = comp_append_lines(&out, buf);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	if (r < 0)
		return r;
	*ret_buf = bw_buf_take(&out, NULL);
	return 0;
}

/* A token matches WORD when equal to it, when it is "WORD=value", or
 * when it is a path ending in "/WORD" (PAM module paths). */
static bool
comp_token_match(const char *s, size_t tl, const char *w, size_t wl)
{
	if (tl == wl && !strncmp(s, w, wl))
		return true;
	if (tl > wl && s[wl] == '=' && !strncmp(s, w, wl))
		return true;
	return tl > wl && s[tl - wl - 1] == '/' && !strncmp(s + tl - wl, w, wl);
}

static bool
comp_line_has_word(const char *line, size_t n, const char *word, size_t wl)
{
	const char *p = line, *end = line + n;

	while (p < end) {
		const char *s;

		while (p < end && isspace((unsigned char)*p))
			p++;
		s = p;
		while (p < end && !isspace((unsigned char)*p))
			p++;
		if (p > s && comp_token_match(s, (size_t)(p - s), word, wl))
			return true;
	}
	return false;
}

bool
comp_has_line(const char *buf, const char *words, char **ret_line)
{
	const char *line = buf;

	while (line && *line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line, *w = words;
		bool all = true;

		while (p < line + n && isspace((unsigned char)*p))
			p++;
		if (p < line + n && *p != '#') {
			while (*w && all) {
				size_t wl;

				while (*w == ' ')
					w++;
				wl = strcspn(w, " ");
				if (wl && !comp_line_has_word(line, n, w, wl))
					all = false;
				w += wl;
			}
			if (all) {
				if (ret_line)
					*ret_line = strndup(line, n);
				return true;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

long
comp_opt_long(const char *line, const char *option)
{
	size_t ol = strlen(option);
	const char *p = line;

	while ((p = strstr(p, option))) {
		if ((p == line || isspace((unsigned char)p[-1])) &&
		    p[ol] == '=' && isdigit((unsigned char)p[ol + 1]))
			return strtol(p + ol + 1, NULL, 10);
		p += ol;
	}
	return -ENOENT;
}

int
comp_fact_empty_list(struct comp_result *res, const char *name,
    const char *const *list, const char *required)
{
	char ref[128];
	size_t n = 0;
	int r;

	if ((r = comp_fact_evidence(res, name, ref, sizeof(ref))) < 0)
		return r;
	if (!list)
		return comp_obs_add(res, false, ref, required, "not reported");
	for (; *list; list++, n++)
		if ((r = comp_obs_add(res, false, ref, required, "%s",
		    *list)) < 0)
			return r;
	return comp_obs_add(res, n == 0, ref, required, "%zu found", n);
}

int
comp_fact_subset(struct comp_result *res, const char *name,
    const char *const *list, const char *const *allowed,
    const char *required)
{
	char ref[128];
	size_t n = 0, bad = 0;
	int r;

	if ((r = comp_fact_evidence(res, name, ref, sizeof(ref))) < 0)
		return r;
	if (!list)
		return comp_obs_add(res, false, ref, required, "not reported");
	for (; *list; list++, n++) {
		const char *const *a;
		bool ok = false;

		for (a = allowed; a && *a && !ok; a++)
			ok = !strcmp(*a, *list);
		if (!ok) {
			bad++;
			if ((r = comp_obs_add(res, false, ref, required, "%s",
			    *list)) < 0)
				return r;
		}
	}
	return comp_obs_add(res, n > 0 && bad == 0, ref, required,
	    "%zu entries, %zu outside the list", n, bad);
}

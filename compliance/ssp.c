/* SSP generation: parses the narrative sources, joins them with the
 * catalog, the baseline and the check registry, and writes an OSCAL
 * system-security-plan plus a Markdown rendering. Nothing here reads
 * the live system: the SSP states design, the scan proves state. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/ids.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "compliance/check.h"
#include "compliance/oscal.h"
#include "compliance/ssp.h"

#define SSP_ATTRS_MAX	16
#define SSP_PROFILE_HREF "https://raw.githubusercontent.com/GSA/fedramp-automation/" \
	"master/dist/content/rev5/baselines/json/" \
	"FedRAMP_rev5_MODERATE-baseline_profile.json"

struct ssp_attr {
	char	*key, *value;
};

struct ssp_section {
	int		 level;		/* 1 or 2 */
	char		*id;		/* heading text after "# " / "## " */
	char		*parent;	/* level 2: the level-1 id above it */
	char		*file;
	unsigned	 line;
	struct ssp_attr	 attrs[SSP_ATTRS_MAX];
	size_t		 n_attrs;
	char		*text;		/* never NULL; may be "" */
};

struct comp_ssp_text {
	struct ssp_section	*s;
	size_t			 n, cap;
	size_t			 files;
};

static const char *const ssp_states[] = {
	"implemented", "partial", "planned", "alternative", "not-applicable",
};

static const char *const ssp_resp[] = {
	"provider", "shared", "customer", "inherited",
};

static const char *const ssp_resp_text[] = {
	"Bulwark (the appliance)",
	"shared: Bulwark and the customer",
	"the customer (operating organization)",
	"inherited from the hosting facility",
};

struct comp_ssp_text *
comp_ssp_text_new(void)
{
	return calloc(1, sizeof(struct comp_ssp_text));
}

static void
ssp_section_done(struct ssp_section *s)
{
	free(s->id);
	free(s->parent);
	free(s->file);
	free(s->text);
	for (size_t i = 0; i < s->n_attrs; i++) {
		free(s->attrs[i].key);
		free(s->attrs[i].value);
	}
}

void
comp_ssp_text_free(struct comp_ssp_text *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		ssp_section_done(&t->s[i]);
	free(t->s);
	free(t);
}

static char *
ssp_strndup_trim(const char *p, size_t n)
{
	while (n && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	while (n && isspace((unsigned char)p[n - 1]))
		n--;
	return strndup(p, n);
}

/* "key: value" with key [a-z-]+ */
static bool
ssp_is_attr(const char *p, size_t n, size_t *ret_klen)
{
	size_t k = 0;

	while (k < n && (islower((unsigned char)p[k]) || p[k] == '-'))
		k++;
	if (k == 0 || k + 1 >= n || p[k] != ':' || p[k + 1] != ' ')
		return false;
	*ret_klen = k;
	return true;
}

static int
ssp_text_append(struct bw_buf *text, const char *p, size_t n)
{
	int r;

	if ((r = bw_buf_append(text, p, n)) < 0)
		return r;
	return bw_buf_append(text, "\n", 1);
}

/* Ends section S: trims its text. */
static int
ssp_section_finish(struct ssp_section *s, char *text, size_t len)
{
	s->text = ssp_strndup_trim(text ? text : "", text ? len : 0);
	return s->text ? 0 : -ENOMEM;
}

int
comp_ssp_text_parse(struct comp_ssp_text *t, const char *name,
    const char *buf, size_t len, char **ret_err)
{
	_cleanup_(bw_buf_done) struct bw_buf text = { 0 };
	_cleanup_free_ char	*top = NULL;
	struct ssp_section	*cur = NULL;
	size_t			 pos = 0;
	unsigned		 line = 0;
	bool			 in_attrs = false;
	int			 r;

	if (len > COMP_SSP_FILE_MAX)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: larger than %u bytes",
		    name, COMP_SSP_FILE_MAX);
	if (memchr(buf, '\0', len))
		return errf(-BW_E_INVALID, ret_err, "%s: contains a NUL byte", name);
	if (++t->files > COMP_SSP_FILES_MAX)
		return errf(-BW_E_TOOLARGE, ret_err, "more than %d narrative files",
		    COMP_SSP_FILES_MAX);
	while (pos < len) {
		const char	*p = buf + pos, *nl = memchr(p, '\n', len - pos);
		size_t		 n = nl ? (size_t)(nl - p) : len - pos, klen;
		int		 level = 0;

		pos += n + (nl ? 1 : 0);
		line++;
		if (n > 2 && p[0] == '#' && p[1] == ' ')
			level = 1;
		else if (n > 3 && p[0] == '#' && p[1] == '#' && p[2] == ' ')
			level = 2;
		if (level) {
			if (cur && (r = ssp_section_finish(cur, text.p,
			    text.len)) < 0)
				return r;
			bw_buf_done(&text);
			if (level == 2 && !top)
				return errf(-BW_E_INVALID, ret_err, "%s:%u: a \"## \" "
				    "section before any \"# \" section", name, line);
			if (t->n >= COMP_SSP_SECTIONS_MAX)
				return errf(-BW_E_TOOLARGE, ret_err, "%s:%u: more than "
				    "%d sections", name, line, COMP_SSP_SECTIONS_MAX);
			if (t->n == t->cap) {
				size_t ncap = t->cap ? t->cap * 2 : 64;
				struct ssp_section *ns = realloc(t->s, ncap * sizeof(*ns));

				if (!ns)
					return -ENOMEM;
				t->s = ns;
				t->cap = ncap;
			}
			cur = &t->s[t->n++];
			memset(cur, 0, sizeof(*cur));
			cur->level = level;
			cur->line = line;
			cur->id = ssp_strndup_trim(p + level + 1, n - level - 1);
			cur->file = strdup(name);
			if (!cur->id || !cur->file)
				return -ENOMEM;
			for (char *c = cur->id; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (!*cur->id)
				return errf(-BW_E_INVALID, ret_err, "%s:%u: empty heading",
				    name, line);
			if (level == 1) {
				free(top);
				if (!(top = strdup(cur->id)))
					return -ENOMEM;
			} else if (!(cur->parent = strdup(top))) {
				return -ENOMEM;
			}
			in_attrs = true;
			continue;
		}
		if (!cur) {
			/* Text before the first heading is a file comment. */
			continue;
		}
		if (in_attrs && ssp_is_attr(p, n, &klen)) {
			struct ssp_attr *a;

			if (cur->n_attrs == SSP_ATTRS_MAX)
				return errf(-BW_E_INVALID, ret_err, "%s:%u: more than %d "
				    "attributes", name, line, SSP_ATTRS_MAX);
			a = &cur->attrs[cur->n_attrs];
			a->key = strndup(p, klen);
			a->value = ssp_strndup_trim(p + klen + 1, n - klen - 1);
			if (!a->key || !a->value) {
				free(a->key);
				free(a->value);
				return -ENOMEM;
			}
			cur->n_attrs++;
			continue;
		}
		in_attrs = false;
		if ((r = ssp_text_append(&text, p, n)) < 0)
			return r;
	}
	if (cur && (r = ssp_section_finish(cur, text.p, text.len)) < 0)
		return r;
	return 0;
}

static int
ssp_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
comp_ssp_text_load(const char *dir, struct comp_ssp_text **ret,
    char **ret_err)
{
	struct comp_ssp_text	*t = NULL;
	_cleanup_close_ int	 dfd = -1;
	DIR			*d = NULL;
	struct dirent		*de;
	char			*names[COMP_SSP_FILES_MAX];
	size_t			 n = 0;
	int			 r = 0;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(-errno, ret_err, "%s: %s", dir, strerror(errno));
	if (!(t = comp_ssp_text_new()))
		return -ENOMEM;
	{
		int dfd2 = fcntl(dfd, F_DUPFD_CLOEXEC, 3);

		if (dfd2 < 0 || !(d = fdopendir(dfd2))) {
			r = -errno;
			if (dfd2 >= 0)
				close(dfd2);
			goto out;
		}
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || fnmatch("*.md", de->d_name, 0) != 0)
			continue;
		if (n == COMP_SSP_FILES_MAX) {
			r = errf(-BW_E_TOOLARGE, ret_err, "%s: more than %d files",
			    dir, COMP_SSP_FILES_MAX);
			goto out;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	qsort(names, n, sizeof(names[0]), ssp_name_cmp);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *buf = NULL;
		size_t len;

		if ((r = read_file_at(dfd, names[i], COMP_SSP_FILE_MAX, &buf,
		    &len)) < 0) {
			r = errf(r == -EFBIG ? -BW_E_TOOLARGE : r, ret_err, "%s/%s: %s",
			    dir, names[i], r == -EFBIG ? "too large" : bw_strerror(r));
			goto out;
		}
		if ((r = comp_ssp_text_parse(t, names[i], buf, len, ret_err)) < 0)
			goto out;
	}
	*ret = TAKE_PTR(t);
	r = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	if (d)
		closedir(d);
	comp_ssp_text_free(t);
	return r;
}

int
comp_ssp_uuid(const char *name, char out[37])
{
	unsigned char	b[EVP_MAX_MD_SIZE];
	unsigned int	blen = 0;
	static const char ns[] = "bulwark-ssp\n";
	EVP_MD_CTX	*md = EVP_MD_CTX_new();
	int		ok;

	if (!md)
		return -BW_E_CRYPTO;
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, ns, sizeof(ns) - 1) == 1 &&
	    EVP_DigestUpdate(md, name, strlen(name)) == 1 &&
	    EVP_DigestFinal_ex(md, b, &blen) == 1;
	EVP_MD_CTX_free(md);
	if (!ok || blen < 16)
		return -BW_E_CRYPTO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x50);	/* version 5 layout */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	bw_uuid_format(b, out);
	return 0;
}

static const struct ssp_section *
ssp_find(const struct comp_ssp_text *t, int level, const char *id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->s[i].level == level && strcasecmp(t->s[i].id, id) == 0)
			return &t->s[i];
	return NULL;
}

static const char *
ssp_attr(const struct ssp_section *s, const char *key)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_attrs; i++)
		if (strcmp(s->attrs[i].key, key) == 0)
			return s->attrs[i].value;
	return NULL;
}

static int
ssp_enum(const char *const *vals, size_t n, const char *v)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(vals[i], v) == 0)
			return (int)i;
	return -ENOENT;
}

static json_t *
ssp_prop(const char *name, const char *value)
{
	return json_pack("{s:s, s:s, s:s}", "name", name, "ns", COMP_OSCAL_NS,
	    "value", value);
}

static int
ssp_push(json_t *a, json_t *v)
{
	if (!v || json_array_append_new(a, v) < 0)
		return -ENOMEM;
	return 0;
}

static int
ssp_uuid_json(json_t *obj, const char *key, const char *fmt, ...)
    _printf_(3, 4);

/* Sets OBJ[KEY] to the name-based UUID of the formatted name. */
int
comp_ssp_uuidf(char out[37], const char *fmt, ...)
{
	va_list	 ap;
	char	*name;
	int	 r = -ENOMEM;

	va_start(ap, fmt);
	if (vasprintf(&name, fmt, ap) >= 0) {
		r = comp_ssp_uuid(name, out);
		free(name);
	}
	va_end(ap);
	return r;
}

static int
ssp_uuid_json(json_t *obj, const char *key, const char *fmt, ...)
{
	_cleanup_free_ char	*name = NULL;
	char			 u[37];
	va_list			 ap;
	int			 n, r;

	va_start(ap, fmt);
	n = vasprintf(&name, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	if ((r = comp_ssp_uuid(name, u)) < 0)
		return r;
	return json_object_set_new(obj, key, json_string(u)) < 0 ? -ENOMEM : 0;
}

/* Upper-case display label: the catalog's ("AC-2(4)") or the id. */
static void
ssp_label(const struct comp_control *c, char *buf, size_t len)
{
	size_t i;

	if (c->label) {
		snprintf(buf, len, "%s", c->label);
		return;
	}
	for (i = 0; c->id[i] && i + 1 < len; i++)
		buf[i] = (char)toupper((unsigned char)c->id[i]);
	buf[i] = '\0';
}

/* The parts of the SSP document that the system section's subsections
 * fill; borrowed references into the document. */
struct ssp_sys {
	json_t		*roles, *users, *comps, *info, *chars;
};

/* Adds metadata, system-implementation and system-characteristics for
 * the system section SYS to SSP, with empty arrays for its subsections
 * to fill, and notes those in *P. */
static int
ssp_system_skeleton(const struct ssp_section *sys, json_t *ssp,
    struct ssp_sys *p)
{
	const char	*name = ssp_attr(sys, "name");
	const char	*level = ssp_attr(sys, "sensitivity");
	json_t		*meta, *impl, *sinfo, *sid;

	p->roles = json_array();
	if (!(meta = json_pack("{s:s, s:s, s:s, s:s, s:o}", "title",
	    "Bulwark appliance System Security Plan (FedRAMP Moderate)",
	    "last-modified", ssp_attr(sys, "last-modified"), "version",
	    ssp_attr(sys, "version"), "oscal-version", COMP_OSCAL_VERSION,
	    "roles", p->roles)) ||
	    json_object_set_new(ssp, "metadata", meta) < 0)
		return -ENOMEM;

	p->comps = json_array();
	p->users = json_array();
	p->info = json_array();
	if (!p->comps || !p->users || !p->info) {
		json_decref(p->comps);
		json_decref(p->users);
		json_decref(p->info);
		return -ENOMEM;
	}
	if (!(impl = json_pack("{s:o, s:o}", "users", p->users, "components",
	    p->comps)) ||
	    json_object_set_new(ssp, "system-implementation", impl) < 0) {
		json_decref(p->info);
		return -ENOMEM;
	}
	if (!(sinfo = json_pack("{s:o}", "information-types", p->info)))
		return -ENOMEM;
	if (!(p->chars = json_pack("{s:[], s:s, s:s, s:s, s:o, s:{s:s, s:s, "
	    "s:s}, s:{s:s}}", "system-ids", "system-name", name, "description",
	    sys->text, "security-sensitivity-level", level, "system-information",
	    sinfo, "security-impact-level", "security-objective-confidentiality",
	    level, "security-objective-integrity", level,
	    "security-objective-availability", level, "status", "state",
	    "operational")) ||
	    json_object_set_new(ssp, "system-characteristics", p->chars) < 0)
		return -ENOMEM;
	sid = json_object();
	if (!sid || ssp_uuid_json(sid, "id", "system") < 0 ||
	    json_object_set_new(sid, "identifier-type",
	    json_string("https://ietf.org/rfc/rfc4122")) < 0 ||
	    ssp_push(json_object_get(p->chars, "system-ids"), sid) < 0)
		return -ENOMEM;
	return 0;
}

/* An "info ID" subsection: one information type. */
static int
ssp_system_info(const struct ssp_section *s, struct ssp_sys *p,
    struct bw_buf *md, char **ret_err)
{
	const char *c = ssp_attr(s, "confidentiality"),
	    *in = ssp_attr(s, "integrity"), *av = ssp_attr(s, "availability"),
	    *title = ssp_attr(s, "title"), *nist = ssp_attr(s, "nist-id");
	json_t *it;

	if (!c || !in || !av || !title || !nist || !*s->text)
		return errf(-BW_E_INVALID, ret_err, "%s:%u: an info section "
		    "needs title, nist-id, confidentiality, integrity, "
		    "availability and a description", s->file, s->line);
	if (!(it = json_pack("{s:s, s:s, s:[{s:s, s:[s]}], s:{s:s}, "
	    "s:{s:s}, s:{s:s}}", "title", title, "description", s->text,
	    "categorizations", "system",
	    "https://doi.org/10.6028/NIST.SP.800-60v2r1",
	    "information-type-ids", nist, "confidentiality-impact", "base",
	    c, "integrity-impact", "base", in, "availability-impact",
	    "base", av)) ||
	    ssp_uuid_json(it, "uuid", "%s", s->id) < 0 ||
	    ssp_push(p->info, it) < 0)
		return -ENOMEM;
	bw_buf_printf(md, "**Information type: %s** (%s; C %s, I %s, A %s). %s\n\n",
	    title, nist, c, in, av, s->text);
	return 0;
}

/* A "user ID" subsection: a role and the user who holds it. */
static int
ssp_system_user(const struct ssp_section *s, struct ssp_sys *p,
    char **ret_err)
{
	const char *title = ssp_attr(s, "title"), *type = ssp_attr(s, "type");
	const char *rid = s->id + 5;
	json_t *u, *role;

	if (!title || !type || !*s->text)
		return errf(-BW_E_INVALID, ret_err, "%s:%u: a user section "
		    "needs title, type and a description", s->file, s->line);
	if (!(role = json_pack("{s:s, s:s}", "id", rid, "title", title)) ||
	    ssp_push(p->roles, role) < 0)
		return -ENOMEM;
	if (!(u = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:[s]}", "title",
	    title, "description", s->text, "props", "name", "type",
	    "value", type, "role-ids", rid)) ||
	    ssp_uuid_json(u, "uuid", "%s", s->id) < 0 ||
	    ssp_push(p->users, u) < 0)
		return -ENOMEM;
	return 0;
}

/* One subsection of the system section, by the kind its id names. */
static int
ssp_system_part(const struct ssp_section *s, struct ssp_sys *p,
    struct bw_buf *md, char **ret_err)
{
	if (strcmp(s->id, "boundary") == 0) {
		if (json_object_set_new(p->chars, "authorization-boundary",
		    json_pack("{s:s}", "description", s->text)) < 0)
			return -ENOMEM;
		bw_buf_printf(md, "## Authorization boundary\n\n%s\n\n", s->text);
		return 0;
	}
	if (strncmp(s->id, "info ", 5) == 0)
		return ssp_system_info(s, p, md, ret_err);
	if (strncmp(s->id, "user ", 5) == 0)
		return ssp_system_user(s, p, ret_err);
	/* Components come from the component definition. */
	if (strncmp(s->id, "component ", 10) == 0)
		return 0;
	return errf(-BW_E_INVALID, ret_err, "%s:%u: unknown system "
	    "section \"%s\" (boundary, info ID, user ID, component ID)",
	    s->file, s->line, s->id);
}

/* The Markdown tables of users and components. */
static void
ssp_system_md_tables(const struct comp_ssp_text *t, struct bw_buf *md)
{
	bw_buf_printf(md, "## Users and roles\n\n| role | title | type |\n|---|---|---|\n");
	for (size_t i = 0; i < t->n; i++) {
		const struct ssp_section *s = &t->s[i];

		if (s->level == 2 && strcmp(s->parent, "system") == 0 &&
		    strncmp(s->id, "user ", 5) == 0)
			bw_buf_printf(md, "| `%s` | %s | %s |\n", s->id + 5,
			    ssp_attr(s, "title"), ssp_attr(s, "type"));
	}
	bw_buf_printf(md, "\n## Components\n\n");
	for (size_t i = 0; i < t->n; i++) {
		const struct ssp_section *s = &t->s[i];

		if (s->level == 2 && strcmp(s->parent, "system") == 0 &&
		    strncmp(s->id, "component ", 10) == 0)
			bw_buf_printf(md, "- **%s** (`%s`, %s): %s\n", ssp_attr(s, "title"),
			    s->id + 10, ssp_attr(s, "type"), s->text);
	}
	bw_buf_printf(md, "\n");
}

static int ssp_components_from_cd(const json_t *cd, json_t *comps,
    const char *res, bool *ret_this);

/* The metadata, system characteristics and system implementation from
 * the "system" section of the narratives, with the components of the
 * component definition CD, each linked to the back-matter resource RES
 * ("#uuid"). */
static int
ssp_system(const struct comp_ssp_text *t, json_t *ssp, const json_t *cd,
    const char *res, struct bw_buf *md, char **ret_err)
{
	const struct ssp_section	*sys = ssp_find(t, 1, "system");
	const char			*name, *version, *modified, *level;
	struct ssp_sys			 p = { 0 };
	bool				 this_sys = false;
	int				 r;

	if (!sys)
		return errf(-BW_E_INVALID, ret_err, "no \"# system\" section");
	name = ssp_attr(sys, "name");
	version = ssp_attr(sys, "version");
	modified = ssp_attr(sys, "last-modified");
	level = ssp_attr(sys, "sensitivity");
	if (!name || !version || !modified || !level || !*sys->text)
		return errf(-BW_E_INVALID, ret_err, "%s:%u: the system section needs "
		    "name, version, last-modified, sensitivity and a description",
		    sys->file, sys->line);
	if ((r = ssp_system_skeleton(sys, ssp, &p)) < 0)
		return r;

	bw_buf_printf(md, "# %s — System Security Plan\n\n", name);
	bw_buf_printf(md, "Generated by `make ssp` (compliance/ssp-gen) from the NIST SP "
	    "800-53 rev 5 catalog, the FedRAMP rev 5 Moderate baseline, the check "
	    "registry (compliance/check.c) and docs/ssp/narratives/. Do not edit "
	    "by hand. The OSCAL document is `%s` (OSCAL %s). Version %s, %s.\n\n",
	    COMP_SSP_JSON_NAME, COMP_OSCAL_VERSION, version, modified);
	bw_buf_printf(md, "## System\n\n%s\n\n", sys->text);

	for (size_t i = 0; i < t->n; i++) {
		const struct ssp_section *s = &t->s[i];

		if (s->level != 2 || strcmp(s->parent, "system") != 0)
			continue;
		if ((r = ssp_system_part(s, &p, md, ret_err)) < 0)
			return r;
	}
	if ((r = ssp_components_from_cd(cd, p.comps, res, &this_sys)) < 0)
		return r;
	if (!this_sys || json_array_size(p.users) == 0 ||
	    json_array_size(p.info) == 0 ||
	    !json_object_get(p.chars, "authorization-boundary"))
		return errf(-BW_E_INVALID, ret_err, "the system section needs a "
		    "boundary, at least one info and user section and a component "
		    "of type this-system");
	/* Roles for responsibility statements. */
	if (ssp_push(p.roles, json_pack("{s:s, s:s}", "id", "provider", "title",
	    "Bulwark appliance (provider of the implementation)")) < 0 ||
	    ssp_push(p.roles, json_pack("{s:s, s:s}", "id", "customer", "title",
	    "Customer (organization operating the appliance)")) < 0)
		return -ENOMEM;
	ssp_system_md_tables(t, md);
	return 0;
}

/* Whether component ID is defined in the system section. */
static bool
ssp_component_known(const struct comp_ssp_text *t, const char *id, size_t n)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct ssp_section *s = &t->s[i];

		if (s->level == 2 && strcmp(s->parent, "system") == 0 &&
		    strncmp(s->id, "component ", 10) == 0 &&
		    strlen(s->id + 10) == n && strncmp(s->id + 10, id, n) == 0)
			return true;
	}
	return false;
}

/* What control C's requirement says, resolved from its narrative source
 * (its own section, the policy template for an xx-1, else its
 * family's); the strings are borrowed from the narratives. */
struct ssp_ctl {
	const struct ssp_section	*own, *pol, *src;
	const char			*state, *resp, *comps, *kind;
	int				 si, ri;	/* ssp_states, ssp_resp */
	size_t				 ncov;	/* checks that cover C */
	char				*desc, *comp0;	/* owned */
};

/* Resolves X's source section and its state, responsibility and
 * components, each falling back to the family section's. */
static int
ssp_control_source(const struct comp_ssp_text *t, const struct comp_control *c,
    const struct ssp_section *famsec, struct ssp_ctl *x, char **ret_err)
{
	const struct ssp_section *src;

	x->own = ssp_find(t, 2, c->id);
	if (!x->own) {
		size_t l = strlen(c->id);

		/* xx-1 is the policy-and-procedures control of every family. */
		if (!c->parent && l > 2 && strcmp(c->id + l - 2, "-1") == 0)
			x->pol = ssp_find(t, 2, "policy");
	}
	src = x->src = x->own ? x->own : x->pol ? x->pol : famsec;
	x->kind = x->own ? "control" : x->pol ? "policy" : "family";
	x->state = ssp_attr(src, "state");
	x->resp = ssp_attr(src, "responsibility");
	x->comps = ssp_attr(src, "components");
	if (!x->state)
		x->state = ssp_attr(famsec, "state");
	if (!x->resp)
		x->resp = ssp_attr(famsec, "responsibility");
	if (!x->comps)
		x->comps = ssp_attr(famsec, "components");
	if (!x->state || (x->si = ssp_enum(ssp_states, ELEMENTSOF(ssp_states),
	    x->state)) < 0)
		return errf(-BW_E_INVALID, ret_err, "%s:%u: %s: state must be one of "
		    "implemented, partial, planned, alternative, not-applicable",
		    src->file, src->line, c->id);
	if (!x->resp || (x->ri = ssp_enum(ssp_resp, ELEMENTSOF(ssp_resp),
	    x->resp)) < 0)
		return errf(-BW_E_INVALID, ret_err, "%s:%u: %s: responsibility must be "
		    "one of provider, shared, customer, inherited", src->file,
		    src->line, c->id);
	return 0;
}

/* Validates every component X lists (none: THIS_ID); the first one,
 * x->comp0, carries the text. */
static int
ssp_control_components(const struct comp_ssp_text *t,
    const struct comp_control *c, const char *this_id, struct ssp_ctl *x,
    char **ret_err)
{
	const struct ssp_section *src = x->src;

	if (!x->comps || !*x->comps)
		x->comps = this_id;
	for (const char *p = x->comps; *p;) {
		size_t n = strcspn(p, ", ");

		if (n && !ssp_component_known(t, p, n))
			return errf(-BW_E_INVALID, ret_err, "%s:%u: %s: unknown "
			    "component \"%.*s\"", src->file, src->line, c->id, (int)n, p);
		if (n && !x->comp0 && !(x->comp0 = strndup(p, n)))
			return -ENOMEM;
		p += n;
		p += strspn(p, ", ");
	}
	if (!x->comp0 && !(x->comp0 = strdup(this_id)))
		return -ENOMEM;
	if (!*src->text)
		return errf(-BW_E_INVALID, ret_err, "%s:%u: %s: empty narrative",
		    src->file, src->line, c->id);
	return 0;
}

/* x->desc: the narrative (the policy template with the family's name)
 * and the automated checks that cover C, counted in x->ncov. */
static int
ssp_control_desc(const struct comp_control *c, const struct comp_family *fam,
    const struct comp_check *checks, size_t nchecks, struct ssp_ctl *x)
{
	struct bw_buf d = { 0 };

	bw_buf_printf(&d, "%s", x->src->text);
	if (x->pol) {
		/* The policy template names the family. */
		char *s;

		if (!(s = strdup(d.p ? d.p : ""))) {
			bw_buf_done(&d);
			return -ENOMEM;
		}
		d.len = 0;
		for (char *q = s, *m; *q; q = m + 8) {
			if (!(m = strstr(q, "{family}"))) {
				bw_buf_printf(&d, "%s", q);
				break;
			}
			bw_buf_printf(&d, "%.*s%s", (int)(m - q), q, fam->title);
		}
		free(s);
	}
	for (size_t i = 0; i < nchecks; i++) {
		if (!comp_check_covers(&checks[i], c->id))
			continue;
		bw_buf_printf(&d, "%s`%s` (%s: %s)", x->ncov ? "; " :
		    "\n\nVerified by the automated checks of `bulwark compliance "
		    "scan`: ", checks[i].id, checks[i].title, checks[i].description);
		x->ncov++;
	}
	if (x->ncov)
		bw_buf_printf(&d, ".");
	else
		bw_buf_printf(&d, "\n\nNo automated check verifies this control; it is "
		    "assessed by examination and interview.");
	if (d.err) {
		bw_buf_done(&d);
		return -ENOMEM;
	}
	x->desc = d.p;
	return 0;
}

/* The component definition under construction: its components (borrowed
 * from the document) and each by its narrative id. */
struct ssp_cd {
	json_t		*comps, *byid;
	const char	*this_id;	/* narrative id of the this-system one */
};

/* Appends a component section S to the component definition. OSCAL
 * has no this-system type for a defined component: the appliance as a
 * whole is software there, and a prop keeps its SSP type. */
static int
cd_component(const struct ssp_section *s, struct ssp_cd *cd, char **ret_err)
{
	const char	*title = ssp_attr(s, "title"), *type = ssp_attr(s, "type");
	bool		 this_sys;
	json_t		*c;

	if (!title || !type || !*s->text)
		return errf(-BW_E_INVALID, ret_err, "%s:%u: a component "
		    "section needs title, type and a description", s->file,
		    s->line);
	this_sys = strcmp(type, "this-system") == 0;
	if (this_sys)
		cd->this_id = s->id + 10;
	if (!(c = json_pack("{s:s, s:s, s:s, s:[o]}", "type", this_sys ?
	    "software" : type, "title", title, "description", s->text, "props",
	    ssp_prop("component-id", s->id + 10))) ||
	    (this_sys && ssp_push(json_object_get(c, "props"),
	    ssp_prop("ssp-component-type", type)) < 0) ||
	    ssp_uuid_json(c, "uuid", "%s", s->id) < 0 ||
	    json_object_set(cd->byid, s->id + 10, c) < 0 ||
	    ssp_push(cd->comps, c) < 0)
		return -ENOMEM;
	return 0;
}

/* The value of prop NAME of OBJ (borrowed), or NULL. */
static const char *
cd_prop(const json_t *obj, const char *name)
{
	return json_str_at(json_array_find(json_object_get(obj, "props"), "name",
	    name), "value", NULL);
}

static json_t *
ssp_roles_json(int ri)
{
	return ri == 0 ? json_pack("[{s:s}]", "role-id", "provider") :
	    ri == 1 ? json_pack("[{s:s}, {s:s}]", "role-id", "provider", "role-id",
	    "customer") : json_pack("[{s:s}]", "role-id", "customer");
}

/* Appends C's implemented requirement, as X describes it, to the
 * control implementation of its first component in CD. */
static int
cd_requirement(const struct comp_control *c, const struct comp_check *checks,
    size_t nchecks, const struct ssp_ctl *x, struct ssp_cd *cd)
{
	json_t	*comp = json_object_get(cd->byid, x->comp0), *impls, *reqs, *req;
	int	 r;

	impls = json_object_get(comp, "control-implementations");
	if (!impls) {
		json_t *impl = json_pack("{s:s, s:s, s:[]}", "source",
		    SSP_PROFILE_HREF, "description", "The controls of the FedRAMP "
		    "rev 5 Moderate baseline whose implementation this component "
		    "carries.", "implemented-requirements");

		if (!impl || ssp_uuid_json(impl, "uuid", "control-implementation "
		    "%s", x->comp0) < 0 ||
		    json_object_set_new(comp, "control-implementations",
		    json_pack("[o]", impl)) < 0)
			return -ENOMEM;
		impls = json_object_get(comp, "control-implementations");
	}
	reqs = json_object_get(json_array_get(impls, 0), "implemented-requirements");
	if (!(req = json_pack("{s:s, s:s, s:[o, o, o, o]}", "control-id", c->id,
	    "description", x->desc, "props", ssp_prop("responsibility", x->resp),
	    ssp_prop("automated", x->ncov ? "yes" : "no"),
	    ssp_prop("narrative-source", x->kind),
	    ssp_prop("implementation-status", x->state))))
		return -ENOMEM;
	if ((r = ssp_uuid_json(req, "uuid", "component requirement %s",
	    c->id)) < 0 || ssp_push(reqs, req) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < nchecks; i++)
		if (comp_check_covers(&checks[i], c->id) &&
		    ssp_push(json_object_get(req, "props"),
		    ssp_prop("check-id", checks[i].id)) < 0)
			return -ENOMEM;
	if (x->ri != 3 && json_object_set_new(req, "responsible-roles",
	    ssp_roles_json(x->ri)) < 0)
		return -ENOMEM;
	return 0;
}

/* Control C's requirement in the component definition. */
static int
cd_control(const struct comp_ssp_text *t, const struct comp_control *c,
    const struct comp_family *fam, const struct ssp_section *famsec,
    struct ssp_cd *cd, char **ret_err)
{
	struct ssp_ctl		 x = { 0 };
	const struct comp_check	*checks;
	size_t			 nchecks;
	int			 r;

	checks = comp_checks(&nchecks);
	if ((r = ssp_control_source(t, c, famsec, &x, ret_err)) < 0 ||
	    (r = ssp_control_components(t, c, cd->this_id, &x, ret_err)) < 0 ||
	    (r = ssp_control_desc(c, fam, checks, nchecks, &x)) < 0)
		goto out;
	r = cd_requirement(c, checks, nchecks, &x, cd);
out:
	free(x.desc);
	free(x.comp0);
	return r;
}

/* Every narrative must name something that exists. */
static int
ssp_text_check(const struct comp_catalog *cat, const struct comp_baseline *base,
    const struct comp_ssp_text *t, char **ret_err)
{
	for (size_t i = 0; i < t->n; i++) {
		const struct ssp_section *s = &t->s[i];

		if (s->level == 1 && strcmp(s->id, "system") != 0 &&
		    strcmp(s->id, "common") != 0 && !comp_catalog_family(cat, s->id))
			return errf(-BW_E_INVALID, ret_err, "%s:%u: \"%s\" is not a "
			    "control family", s->file, s->line, s->id);
		if (s->level == 2 && strcmp(s->parent, "system") != 0 &&
		    strcmp(s->parent, "common") != 0) {
			const struct comp_control *c = comp_catalog_find(cat, s->id);

			if (!c || strcasecmp(c->family, s->parent) != 0)
				return errf(-BW_E_INVALID, ret_err, "%s:%u: \"%s\" is not a "
				    "control of family %s", s->file, s->line, s->id,
				    s->parent);
			if (!comp_baseline_contains(base, s->id))
				return errf(-BW_E_INVALID, ret_err, "%s:%u: %s is not in "
				    "the baseline", s->file, s->line, s->id);
			if (ssp_find(t, 2, s->id) != s)
				return errf(-BW_E_INVALID, ret_err, "%s:%u: %s has two "
				    "narratives", s->file, s->line, s->id);
		}
		if (s->level == 2 && strcmp(s->parent, "common") == 0 &&
		    strcmp(s->id, "policy") != 0)
			return errf(-BW_E_INVALID, ret_err, "%s:%u: the common section "
			    "holds only \"## policy\"", s->file, s->line);
	}
	return 0;
}

/* The narrative of family FAM of the baseline. */
static int
ssp_family_section(const struct comp_ssp_text *t, const struct comp_family *fam,
    const struct ssp_section **ret, char **ret_err)
{
	const struct ssp_section *famsec = ssp_find(t, 1, fam->id);

	if (!famsec || !*famsec->text)
		return errf(-BW_E_INVALID, ret_err, "family %s (%s) has no "
		    "narrative (\"# %s\" section)", fam->id, fam->title, fam->id);
	*ret = famsec;
	return 0;
}

/* The component definition's metadata and its components, from the
 * system section. */
static int
cd_skeleton(const struct comp_ssp_text *t, json_t *root, struct ssp_cd *cd,
    char **ret_err)
{
	const struct ssp_section	*sys = ssp_find(t, 1, "system");
	int				 r;

	if (!sys || !ssp_attr(sys, "version") || !ssp_attr(sys, "last-modified"))
		return errf(-BW_E_INVALID, ret_err, "no \"# system\" section "
		    "with version and last-modified");
	if (json_object_set_new(root, "metadata", json_pack("{s:s, s:s, s:s, s:s, "
	    "s:[{s:s, s:s}, {s:s, s:s}]}", "title", "Bulwark appliance component "
	    "definition (FedRAMP Moderate)", "last-modified",
	    ssp_attr(sys, "last-modified"), "version", ssp_attr(sys, "version"),
	    "oscal-version", COMP_OSCAL_VERSION, "roles", "id", "provider",
	    "title", "Bulwark appliance (provider of the implementation)", "id",
	    "customer", "title", "Customer (organization operating the "
	    "appliance)")) < 0 ||
	    json_object_set_new(root, "components", cd->comps = json_array()) < 0 ||
	    !cd->comps)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		const struct ssp_section *s = &t->s[i];

		if (s->level == 2 && strcmp(s->parent, "system") == 0 &&
		    strncmp(s->id, "component ", 10) == 0 &&
		    (r = cd_component(s, cd, ret_err)) < 0)
			return r;
	}
	if (!cd->this_id)
		return errf(-BW_E_INVALID, ret_err, "the system section needs a "
		    "component of type this-system");
	return 0;
}

int
comp_ssp_component_definition(const struct comp_catalog *cat,
    const struct comp_baseline *base, const struct comp_ssp_text *t,
    json_t **ret_cd, char **ret_err)
{
	_cleanup_json_ json_t	*doc = NULL;
	struct ssp_cd		 cd = { 0 };
	json_t			*root;
	int			 r;

	if ((r = ssp_text_check(cat, base, t, ret_err)) < 0)
		return r;
	if (!(doc = json_pack("{s:{}}", "component-definition")) ||
	    !(cd.byid = json_object()))
		return -ENOMEM;
	root = json_object_get(doc, "component-definition");
	if ((r = ssp_uuid_json(root, "uuid", "component-definition %s",
	    comp_baseline_title(base))) < 0 ||
	    (r = cd_skeleton(t, root, &cd, ret_err)) < 0)
		goto out;
	for (size_t f = 0; f < comp_catalog_family_count(cat); f++) {
		const struct comp_family	*fam = comp_catalog_family_at(cat, f);
		const struct ssp_section	*famsec = NULL;

		for (size_t i = 0; i < comp_baseline_count(base); i++) {
			const struct comp_control *c = comp_baseline_at(base, i);

			if (strcasecmp(c->family, fam->id) != 0)
				continue;
			if ((!famsec && (r = ssp_family_section(t, fam, &famsec,
			    ret_err)) < 0) ||
			    (r = cd_control(t, c, fam, famsec, &cd, ret_err)) < 0)
				goto out;
		}
	}
	*ret_cd = TAKE_PTR(doc);
	r = 0;
out:
	json_decref(cd.byid);
	return r;
}

/* The SSP's components: those of the component definition CD, under
 * the same UUIDs, each linked to the back-matter resource naming CD. */
static int
ssp_components_from_cd(const json_t *cd, json_t *comps, const char *res,
    bool *ret_this)
{
	const json_t	*c;
	size_t		 i;

	json_array_foreach(json_object_get(json_object_get(cd,
	    "component-definition"), "components"), i, c) {
		const char	*type = cd_prop(c, "ssp-component-type");
		json_t		*sc;

		if (!type)
			type = json_string_value(json_object_get(c, "type"));
		*ret_this |= type && strcmp(type, "this-system") == 0;
		if (!(sc = json_pack("{s:s?, s:O?, s:O?, s:{s:s}, s:[{s:s, s:s}], "
		    "s:O?}", "type", type, "title", json_object_get(c, "title"),
		    "description", json_object_get(c, "description"), "status",
		    "state", "operational", "links", "href", res, "rel",
		    "reference", "uuid", json_object_get(c, "uuid"))) ||
		    ssp_push(comps, sc) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* What an SSP requirement takes from the component definition: the
 * requirement of control C and the component carrying it (borrowed). */
struct ssp_from_cd {
	const json_t	*comp, *req;
	const char	*state, *resp, *kind, *compid;
	int		 si, ri;
	size_t		 ncov;
};

/* Finds control C in the component definition's index IDX and reads
 * its attributes into *X. */
static int
ssp_cd_lookup(const json_t *idx, const struct comp_control *c,
    struct ssp_from_cd *x, char **ret_err)
{
	const json_t	*e = json_object_get(idx, c->id), *p;
	size_t		 i;

	if (!e)
		return errf(-BW_E_INVALID, ret_err, "%s: no implemented requirement "
		    "in the component definition", c->id);
	x->comp = json_array_get(e, 0);
	x->req = json_array_get(e, 1);
	x->state = cd_prop(x->req, "implementation-status");
	x->resp = cd_prop(x->req, "responsibility");
	x->kind = cd_prop(x->req, "narrative-source");
	x->compid = cd_prop(x->comp, "component-id");
	if (!x->state || (x->si = ssp_enum(ssp_states, ELEMENTSOF(ssp_states),
	    x->state)) < 0 || !x->resp || (x->ri = ssp_enum(ssp_resp,
	    ELEMENTSOF(ssp_resp), x->resp)) < 0 || !x->kind || !x->compid ||
	    !json_is_string(json_object_get(x->req, "description")))
		return errf(-BW_E_INVALID, ret_err, "%s: the component definition's "
		    "requirement lacks a description, component-id, narrative-source "
		    "or a valid implementation-status or responsibility", c->id);
	x->ncov = 0;
	json_array_foreach(json_object_get(x->req, "props"), i, p)
		x->ncov += strcmp(json_string_value(json_object_get(p, "name")),
		    "check-id") == 0;
	return 0;
}

/* Appends C's implemented requirement, assembled from X, to REQS. */
static int
ssp_control_json(const struct comp_control *c, const struct ssp_from_cd *x,
    json_t *reqs)
{
	_cleanup_json_ json_t	*bprops = json_array();
	json_t			*req, *byc, *p;
	size_t			 i;

	if (!bprops)
		return -ENOMEM;
	json_array_foreach(json_object_get(x->req, "props"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "name")),
		    "check-id") == 0 && ssp_push(bprops, json_deep_copy(p)) < 0)
			return -ENOMEM;
	if (!(byc = json_pack("{s:O, s:{s:s}}", "description",
	    json_object_get(x->req, "description"), "implementation-status",
	    "state", x->state)))
		return -ENOMEM;
	if ((json_array_size(bprops) && json_object_set(byc, "props",
	    bprops) < 0) || (json_object_get(x->req, "responsible-roles") &&
	    json_object_set_new(byc, "responsible-roles", json_deep_copy(
	    json_object_get(x->req, "responsible-roles"))) < 0) ||
	    json_object_set(byc, "component-uuid", json_object_get(x->comp,
	    "uuid")) < 0) {
		json_decref(byc);
		return -ENOMEM;
	}
	if (!(req = json_pack("{s:s, s:[o, o, o], s:[o]}", "control-id", c->id,
	    "props", ssp_prop("responsibility", x->resp), ssp_prop("automated",
	    x->ncov ? "yes" : "no"), ssp_prop("narrative-source", x->kind),
	    "by-components", byc)))
		return -ENOMEM;
	if (ssp_uuid_json(req, "uuid", "requirement %s", c->id) < 0 ||
	    ssp_uuid_json(byc, "uuid", "by-component %s %s", c->id,
	    x->compid) < 0 ||
	    ssp_push(reqs, req) < 0)
		return -ENOMEM;
	return 0;
}

/* One implemented requirement for control C, from the component
 * definition's index IDX. */
static int
ssp_control(const struct comp_control *c, const json_t *idx, json_t *reqs,
    struct bw_buf *md, struct comp_ssp_stats *st, char **ret_err)
{
	struct ssp_from_cd	 x = { 0 };
	char			 label[64];
	int			 r;

	if ((r = ssp_cd_lookup(idx, c, &x, ret_err)) < 0 ||
	    (r = ssp_control_json(c, &x, reqs)) < 0)
		return r;
	ssp_label(c, label, sizeof(label));
	bw_buf_printf(md, "### %s %s\n\n*Implementation:* %s · *Responsibility:* %s · "
	    "*Component:* `%s` · *Automated checks:* %zu\n\n%s\n\n", label,
	    c->title ? c->title : "", x.state, ssp_resp_text[x.ri], x.compid,
	    x.ncov, json_string_value(json_object_get(x.req, "description")));
	st->controls++;
	st->specific += strcmp(x.kind, "control") == 0;
	st->automated += x.ncov > 0;
	st->by_state[x.si]++;
	return 0;
}

/* Control id -> [component, requirement] over every control
 * implementation of CD, into *RET (caller owns). */
static int
ssp_cd_index(const json_t *cd, json_t **ret)
{
	_cleanup_json_ json_t	*idx = json_object();
	const json_t		*comp, *impl, *req;
	size_t			 i, j, k;

	if (!idx)
		return -ENOMEM;
	json_array_foreach(json_object_get(json_object_get(cd,
	    "component-definition"), "components"), i, comp)
		json_array_foreach(json_object_get(comp,
		    "control-implementations"), j, impl)
			json_array_foreach(json_object_get(impl,
			    "implemented-requirements"), k, req) {
				const char *id = json_string_value(
				    json_object_get(req, "control-id"));

				if (id && !json_object_get(idx, id) &&
				    json_object_set_new(idx, id, json_pack("[O, O]",
				    comp, req)) < 0)
					return -ENOMEM;
			}
	*ret = TAKE_PTR(idx);
	return 0;
}

/* The SSP's import of the profile, its back-matter resource naming the
 * component definition, and the control implementation's skeleton;
 * *RET_REQS gets the (borrowed) requirement array. */
static int
ssp_frame(json_t *ssp, const char *res, json_t **ret_reqs)
{
	json_t *reqs, *r;

	if (json_object_set_new(ssp, "import-profile", json_pack("{s:s}", "href",
	    SSP_PROFILE_HREF)) < 0 ||
	    !(reqs = json_array()) ||
	    json_object_set_new(ssp, "control-implementation", json_pack("{s:s, s:o}",
	    "description", "How the Bulwark appliance implements each control of "
	    "the FedRAMP rev 5 Moderate baseline, which automated checks verify "
	    "it, and what remains the customer's responsibility. Assembled from "
	    "the component definition " COMP_CD_JSON_NAME ".",
	    "implemented-requirements", reqs)) < 0 ||
	    !(r = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "uuid", res + 1,
	    "title", "Bulwark appliance component definition", "description",
	    "The OSCAL component definition the system components and their "
	    "control implementations are taken from.", "rlinks", "href",
	    COMP_CD_JSON_NAME, "media-type", "application/json")) ||
	    json_object_set_new(ssp, "back-matter", json_pack("{s:[o]}",
	    "resources", r)) < 0)
		return -ENOMEM;
	*ret_reqs = reqs;
	return 0;
}

int
comp_ssp_build(const struct comp_catalog *cat, const struct comp_baseline *base,
    const struct comp_ssp_text *t, const json_t *cd, json_t **ret_ssp,
    char **ret_md, struct comp_ssp_stats *ret_stats, char **ret_err)
{
	_cleanup_json_ json_t	*doc = NULL, *idx = NULL;
	struct comp_ssp_stats	 st = { 0 };
	struct bw_buf		 md = { 0 };
	json_t			*ssp, *reqs;
	char			 res[38];
	int			 r;

	if (!(doc = json_pack("{s:{}}", "system-security-plan")))
		return -ENOMEM;
	ssp = json_object_get(doc, "system-security-plan");
	res[0] = '#';
	if ((r = ssp_uuid_json(ssp, "uuid", "ssp %s", comp_baseline_title(base))) < 0 ||
	    (r = comp_ssp_uuid("resource component-definition", res + 1)) < 0 ||
	    (r = ssp_cd_index(cd, &idx)) < 0)
		return r;
	if ((r = ssp_system(t, ssp, cd, res, &md, ret_err)) < 0 ||
	    (r = ssp_frame(ssp, res, &reqs)) < 0)
		goto fail;

	for (size_t f = 0; f < comp_catalog_family_count(cat); f++) {
		const struct comp_family	*fam = comp_catalog_family_at(cat, f);
		const struct ssp_section	*famsec;
		size_t				 inbase = 0, nauto = 0;
		char				 up[16];

		for (size_t i = 0; i < comp_baseline_count(base); i++)
			if (strcasecmp(comp_baseline_at(base, i)->family, fam->id) == 0)
				inbase++;
		if (!inbase)
			continue;
		if ((r = ssp_family_section(t, fam, &famsec, ret_err)) < 0)
			goto fail;
		for (size_t i = 0; i < sizeof(up) - 1 && fam->id[i]; i++) {
			up[i] = (char)toupper((unsigned char)fam->id[i]);
			up[i + 1] = '\0';
		}
		bw_buf_printf(&md, "## %s — %s\n\n%s\n\n", up, fam->title, famsec->text);
		for (size_t i = 0; i < comp_baseline_count(base); i++) {
			const struct comp_control *c = comp_baseline_at(base, i);
			size_t before = st.automated;

			if (strcasecmp(c->family, fam->id) != 0)
				continue;
			if ((r = ssp_control(c, idx, reqs, &md, &st, ret_err)) < 0)
				goto fail;
			nauto += st.automated > before;
		}
		bw_buf_printf(&md, "*%s: %zu controls in the baseline, %zu verified by "
		    "automated checks.*\n\n", up, inbase, nauto);
	}
	bw_buf_printf(&md, "## Summary\n\n%zu controls; %zu with their own narrative; "
	    "%zu verified by automated checks; implemented %zu, partial %zu, "
	    "planned %zu, alternative %zu, not applicable %zu.\n", st.controls,
	    st.specific, st.automated, st.by_state[0], st.by_state[1],
	    st.by_state[2], st.by_state[3], st.by_state[4]);
	if (md.err) {
		r = -ENOMEM;
		goto fail;
	}
	if (st.controls != comp_baseline_count(base)) {
		r = errf(-BW_E_INVALID, ret_err, "%zu of %zu baseline controls "
		    "written", st.controls, comp_baseline_count(base));
		goto fail;
	}
	*ret_ssp = TAKE_PTR(doc);
	*ret_md = md.p;
	if (ret_stats)
		*ret_stats = st;
	return 0;
fail:
	bw_buf_done(&md);
	return r;
}

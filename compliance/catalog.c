/* OSCAL catalog loading. The catalog is a large, trusted-by-provenance
 * but still external document, so it is parsed with the same bounds as
 * network input: size, depth, count of controls, and the exact types of
 * every field used. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"
#include "lib/fileio.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "compliance/catalog.h"

#define COMP_MAX_NESTING	4	/* control -> enhancement -> ... */
#define COMP_MAX_GROUPS		64

struct comp_catalog {
	char			*uuid;
	char			*title;
	char			*version;
	char			*oscal_version;
	struct comp_control	*controls;
	size_t			 n_controls;
	size_t			 cap_controls;
	size_t			*by_id;		/* indexes sorted by id */
	struct comp_family	*families;
	size_t			 n_families;
};

struct comp_baseline {
	char				 *title;
	const struct comp_control	**controls;	/* document order */
	const struct comp_control	**sorted;	/* by id */
	size_t				  n;
};

const char *
comp_data_dir(void)
{
	const char *e = getenv("BULWARK_COMPLIANCE_DATA");

	if (e && *e)
		return e;
	return BW_DATADIR "/compliance/data";
}

/* Control ids are lower-case tokens "xx-N" or "xx-N.M"; anything else
 * is refused so ids can be used in paths, URIs and OSCAL tokens. */
static bool
comp_id_valid(const char *id)
{
	const char *p = id;

	if (!islower((unsigned char)*p))
		return false;
	while (islower((unsigned char)*p))
		p++;
	if (*p++ != '-' || !isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	while (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p == '\0' && p - id <= 32;
}

static void
comp_control_clear(struct comp_control *c)
{
	free(c->id);
	free(c->label);
	free(c->title);
	free(c->family);
	free(c->parent);
}

void
comp_catalog_free(struct comp_catalog *cat)
{
	size_t i;

	if (!cat)
		return;
	for (i = 0; i < cat->n_controls; i++)
		comp_control_clear(&cat->controls[i]);
	for (i = 0; i < cat->n_families; i++) {
		free(cat->families[i].id);
		free(cat->families[i].title);
	}
	free(cat->families);
	free(cat->controls);
	free(cat->by_id);
	free(cat->uuid);
	free(cat->title);
	free(cat->version);
	free(cat->oscal_version);
	free(cat);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct comp_catalog *, comp_catalog_free);

/* Copies the string member KEY of OBJ into *ret. Missing is allowed
 * only when OPTIONAL. */
static int
comp_get_str(json_t *obj, const char *key, bool optional, const char *where,
    char **ret, char **ret_err)
{
	json_t *v = json_object_get(obj, key);

	if (!v) {
		if (optional) {
			*ret = NULL;
			return 0;
		}
		return errf(-BW_E_INVALID, ret_err, "%s.%s: missing", where,
		    key);
	}
	if (!json_is_string(v))
		return errf(-BW_E_INVALID, ret_err, "%s.%s: not a string",
		    where, key);
	if (!(*ret = strdup(json_string_value(v))))
		return -ENOMEM;
	return 0;
}

/* Returns member KEY of OBJ when it is an array, NULL when absent;
 * fails on any other type. */
static int
comp_get_array(json_t *obj, const char *key, const char *where,
    json_t **ret, char **ret_err)
{
	json_t *v = json_object_get(obj, key);

	if (v && !json_is_array(v))
		return errf(-BW_E_INVALID, ret_err, "%s.%s: not an array",
		    where, key);
	*ret = v;
	return 0;
}

static int
comp_catalog_add(struct comp_catalog *cat, struct comp_control **ret)
{
	if (cat->n_controls == cat->cap_controls) {
		size_t n = cat->cap_controls ? cat->cap_controls * 2 : 512;
		struct comp_control *p;

		p = reallocarray(cat->controls, n, sizeof(*p));
		if (!p)
			return -ENOMEM;
		cat->controls = p;
		cat->cap_controls = n;
	}
	*ret = &cat->controls[cat->n_controls++];
	memset(*ret, 0, sizeof(**ret));
	return 0;
}

static int comp_parse_controls(struct comp_catalog *cat, json_t *arr,
    const char *family, const char *parent, int nesting, const char *where,
    char **ret_err);

static int
comp_parse_control(struct comp_catalog *cat, json_t *jc, const char *family,
    const char *parent, int nesting, const char *where, char **ret_err)
{
	struct comp_control	*c;
	json_t			*props = NULL, *parts = NULL, *sub = NULL, *v;
	size_t			 i;
	_cleanup_free_ char	*smt = NULL;
	int			 r;

	if (!json_is_object(jc))
		return errf(-BW_E_INVALID, ret_err, "%s: not an object", where);
	if (cat->n_controls >= COMP_CATALOG_MAX_CONTROLS)
		return errf(-BW_E_TOOLARGE, ret_err,
		    "%s: more than %d controls", where,
		    COMP_CATALOG_MAX_CONTROLS);
	if ((r = comp_catalog_add(cat, &c)) < 0)
		return r;
	if ((r = comp_get_str(jc, "id", false, where, &c->id, ret_err)) < 0 ||
	    (r = comp_get_str(jc, "title", false, where, &c->title,
	    ret_err)) < 0)
		return r;
	if (!comp_id_valid(c->id))
		return errf(-BW_E_INVALID, ret_err,
		    "%s.id: \"%.40s\" is not a control id (xx-N or xx-N.M)",
		    where, c->id);
	if (!(c->family = strdup(family)) ||
	    (parent && !(c->parent = strdup(parent))))
		return -ENOMEM;
	if ((r = comp_get_array(jc, "props", where, &props, ret_err)) < 0)
		return r;
	json_array_foreach(props, i, v) {
		const char *name, *value;

		if (!json_is_object(v) ||
		    !json_is_string(json_object_get(v, "name")) ||
		    !json_is_string(json_object_get(v, "value")))
			return errf(-BW_E_INVALID, ret_err,
			    "%s.props[%zu]: needs string name and value",
			    where, i);
		name = json_string_value(json_object_get(v, "name"));
		value = json_string_value(json_object_get(v, "value"));
		/* Resolved profiles add a second label of class sp800-53a;
		 * the first, class-less one is the control's own. */
		if (!strcmp(name, "label") && !c->label &&
		    !json_object_get(v, "class")) {
			if (!(c->label = strdup(value)))
				return -ENOMEM;
		} else if (!strcmp(name, "status") &&
		    !strcmp(value, "withdrawn"))
			c->withdrawn = true;
	}
	if ((r = comp_get_array(jc, "parts", where, &parts, ret_err)) < 0)
		return r;
	if (asprintf(&smt, "%s_smt", c->id) < 0) {
		smt = NULL;
		return -ENOMEM;
	}
	json_array_foreach(parts, i, v) {
		json_t *pid = json_is_object(v) ? json_object_get(v, "id") : NULL;

		if (json_is_string(pid) && !strcmp(json_string_value(pid), smt))
			c->has_statement = true;
	}
	if ((r = comp_get_array(jc, "controls", where, &sub, ret_err)) < 0)
		return r;
	if (sub) {
		/* c may move when the array grows: copy the id first. */
		_cleanup_free_ char *id = strdup(c->id);

		if (!id)
			return -ENOMEM;
		if (nesting + 1 >= COMP_MAX_NESTING)
			return errf(-BW_E_INVALID, ret_err,
			    "%s.controls: nested deeper than %d", where,
			    COMP_MAX_NESTING);
		r = comp_parse_controls(cat, sub, family, id, nesting + 1,
		    where, ret_err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
comp_parse_controls(struct comp_catalog *cat, json_t *arr, const char *family,
    const char *parent, int nesting, const char *where, char **ret_err)
{
	json_t	*jc;
	size_t	 i;
	int	 r;

	json_array_foreach(arr, i, jc) {
		char sub[256];

		snprintf(sub, sizeof(sub), "%s.controls[%zu]", where, i);
		r = comp_parse_control(cat, jc, family, parent, nesting, sub,
		    ret_err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
comp_cmp_id(const void *a, const void *b, void *arg)
{
	const struct comp_catalog *cat = arg;

	return strcasecmp(cat->controls[*(const size_t *)a].id,
	    cat->controls[*(const size_t *)b].id);
}

static int
comp_parse_group(struct comp_catalog *cat, json_t *g, size_t gi,
    char **ret_err)
{
	struct comp_family	*f;
	json_t			*controls = NULL;
	char			 where[64];
	int			 r;

	snprintf(where, sizeof(where), "catalog.groups[%zu]", gi);
	if (!json_is_object(g))
		return errf(-BW_E_INVALID, ret_err, "%s: not an object", where);
	if (json_object_get(g, "groups"))
		return errf(-BW_E_INVALID, ret_err,
		    "%s.groups: nested groups are not supported", where);
	f = &cat->families[cat->n_families];
	memset(f, 0, sizeof(*f));
	if ((r = comp_get_str(g, "id", false, where, &f->id, ret_err)) < 0)
		return r;
	cat->n_families++;
	if ((r = comp_get_str(g, "title", false, where, &f->title,
	    ret_err)) < 0)
		return r;
	if (!*f->id || strlen(f->id) > 16)
		return errf(-BW_E_INVALID, ret_err,
		    "%s.id: must be 1..16 characters", where);
	if ((r = comp_get_array(g, "controls", where, &controls, ret_err)) < 0)
		return r;
	f->first = cat->n_controls;
	if (controls) {
		_cleanup_free_ char *fam = strdup(f->id);

		if (!fam)
			return -ENOMEM;
		if ((r = comp_parse_controls(cat, controls, fam, NULL, 0,
		    where, ret_err)) < 0)
			return r;
	}
	/* f may not move: families were allocated up front. */
	f->count = cat->n_controls - f->first;
	return 0;
}

int
comp_catalog_parse(const char *buf, size_t len, struct comp_catalog **ret_cat,
    char **ret_err)
{
	_cleanup_json_ json_t			*root = NULL;
	_cleanup_(comp_catalog_freep) struct comp_catalog *cat = NULL;
	json_t					*jcat, *meta, *groups = NULL, *g;
	size_t					 i;
	int					 r;

	if (len > COMP_CATALOG_MAX_BYTES)
		return errf(-BW_E_TOOLARGE, ret_err,
		    "catalog: %zu bytes, limit %u", len,
		    COMP_CATALOG_MAX_BYTES);
	if ((r = json_parse_bounded(buf, len, COMP_CATALOG_MAX_DEPTH, &root,
	    ret_err)) < 0)
		return r;
	jcat = json_object_get(root, "catalog");
	if (!json_is_object(jcat))
		return errf(-BW_E_INVALID, ret_err,
		    "catalog: missing or not an object (not an OSCAL catalog)");
	if (!(cat = calloc(1, sizeof(*cat))))
		return -ENOMEM;
	if ((r = comp_get_str(jcat, "uuid", false, "catalog", &cat->uuid,
	    ret_err)) < 0)
		return r;
	meta = json_object_get(jcat, "metadata");
	if (!json_is_object(meta))
		return errf(-BW_E_INVALID, ret_err,
		    "catalog.metadata: missing or not an object");
	if ((r = comp_get_str(meta, "title", false, "catalog.metadata",
	    &cat->title, ret_err)) < 0 ||
	    (r = comp_get_str(meta, "version", false, "catalog.metadata",
	    &cat->version, ret_err)) < 0 ||
	    (r = comp_get_str(meta, "oscal-version", false,
	    "catalog.metadata", &cat->oscal_version, ret_err)) < 0)
		return r;
	if ((r = comp_get_array(jcat, "groups", "catalog", &groups,
	    ret_err)) < 0)
		return r;
	if (!groups || json_array_size(groups) == 0)
		return errf(-BW_E_INVALID, ret_err,
		    "catalog.groups: missing or empty");
	if (json_object_get(jcat, "controls"))
		return errf(-BW_E_INVALID, ret_err,
		    "catalog.controls: controls outside a family group are "
		    "not supported");
	if (json_array_size(groups) > COMP_MAX_GROUPS)
		return errf(-BW_E_TOOLARGE, ret_err,
		    "catalog.groups: more than %d groups", COMP_MAX_GROUPS);
	cat->families = calloc(json_array_size(groups),
	    sizeof(*cat->families));
	if (!cat->families)
		return -ENOMEM;
	json_array_foreach(groups, i, g) {
		if ((r = comp_parse_group(cat, g, i, ret_err)) < 0)
			return r;
	}
	for (i = 0; i + 1 < cat->n_families; i++) {
		size_t j;

		for (j = i + 1; j < cat->n_families; j++)
			if (!strcasecmp(cat->families[i].id,
			    cat->families[j].id))
				return errf(-BW_E_INVALID, ret_err,
				    "catalog.groups[%zu].id: duplicate "
				    "family \"%s\"", j, cat->families[j].id);
	}
	if (cat->n_controls == 0)
		return errf(-BW_E_INVALID, ret_err,
		    "catalog: no controls in any group");
	cat->by_id = calloc(cat->n_controls, sizeof(*cat->by_id));
	if (!cat->by_id)
		return -ENOMEM;
	for (i = 0; i < cat->n_controls; i++)
		cat->by_id[i] = i;
	qsort_r(cat->by_id, cat->n_controls, sizeof(*cat->by_id),
	    comp_cmp_id, cat);
	for (i = 1; i < cat->n_controls; i++)
		if (!strcasecmp(cat->controls[cat->by_id[i]].id,
		    cat->controls[cat->by_id[i - 1]].id))
			return errf(-BW_E_INVALID, ret_err,
			    "catalog: duplicate control id \"%s\"",
			    cat->controls[cat->by_id[i]].id);
	*ret_cat = TAKE_PTR(cat);
	return 0;
}

/* Reads PATH bounded and prefixes parse errors with the file name. */
static int
comp_read_doc(const char *path, char **ret_buf, size_t *ret_len,
    char **ret_err)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errf(-errno, ret_err, "%s: %s", path, strerror(errno));
	r = read_bounded(fd, COMP_CATALOG_MAX_BYTES, ret_buf, ret_len);
	if (r == -EFBIG)
		return errf(-BW_E_TOOLARGE, ret_err, "%s: larger than %u bytes",
		    path, COMP_CATALOG_MAX_BYTES);
	if (r < 0)
		return errf(r, ret_err, "%s: %s", path, bw_strerror(r));
	return 0;
}

int
comp_catalog_load(const char *path, struct comp_catalog **ret_cat,
    char **ret_err)
{
	_cleanup_free_ char	*buf = NULL;
	size_t			 len;
	int			 r;

	if ((r = comp_read_doc(path, &buf, &len, ret_err)) < 0)
		return r;
	if ((r = comp_catalog_parse(buf, len, ret_cat, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%s", path);
	return 0;
}

const char *
comp_catalog_title(const struct comp_catalog *cat)
{
	return cat->title;
}

const char *
comp_catalog_version(const struct comp_catalog *cat)
{
	return cat->version;
}

const char *
comp_catalog_oscal_version(const struct comp_catalog *cat)
{
	return cat->oscal_version;
}

const char *
comp_catalog_uuid(const struct comp_catalog *cat)
{
	return cat->uuid;
}

size_t
comp_catalog_count(const struct comp_catalog *cat)
{
	return cat->n_controls;
}

const struct comp_control *
comp_catalog_at(const struct comp_catalog *cat, size_t i)
{
	return i < cat->n_controls ? &cat->controls[i] : NULL;
}

const struct comp_control *
comp_catalog_find(const struct comp_catalog *cat, const char *id)
{
	size_t lo = 0, hi = cat->n_controls;

	if (!id)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct comp_control *c = &cat->controls[cat->by_id[mid]];
		int d = strcasecmp(id, c->id);

		if (d == 0)
			return c;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct comp_control *
comp_catalog_find_title(const struct comp_catalog *cat, const char *title)
{
	size_t i;

	for (i = 0; title && i < cat->n_controls; i++)
		if (!strcasecmp(cat->controls[i].title, title))
			return &cat->controls[i];
	return NULL;
}

size_t
comp_catalog_family_count(const struct comp_catalog *cat)
{
	return cat->n_families;
}

const struct comp_family *
comp_catalog_family_at(const struct comp_catalog *cat, size_t i)
{
	return i < cat->n_families ? &cat->families[i] : NULL;
}

const struct comp_family *
comp_catalog_family(const struct comp_catalog *cat, const char *id)
{
	size_t i;

	for (i = 0; id && i < cat->n_families; i++)
		if (!strcasecmp(cat->families[i].id, id))
			return &cat->families[i];
	return NULL;
}

void
comp_baseline_free(struct comp_baseline *base)
{
	if (!base)
		return;
	free(base->title);
	free(base->controls);
	free(base->sorted);
	free(base);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct comp_baseline *, comp_baseline_free);

static int
comp_cmp_ctl(const void *a, const void *b)
{
	return strcasecmp((*(const struct comp_control *const *)a)->id,
	    (*(const struct comp_control *const *)b)->id);
}

int
comp_baseline_parse(const char *buf, size_t len,
    const struct comp_catalog *cat, struct comp_baseline **ret_base,
    char **ret_err)
{
	_cleanup_(comp_catalog_freep) struct comp_catalog *prof = NULL;
	_cleanup_(comp_baseline_freep) struct comp_baseline *base = NULL;
	size_t i;
	int r;

	if ((r = comp_catalog_parse(buf, len, &prof, ret_err)) < 0)
		return r;
	if (!(base = calloc(1, sizeof(*base))) ||
	    !(base->title = strdup(prof->title)) ||
	    !(base->controls = calloc(prof->n_controls,
	    sizeof(*base->controls))) ||
	    !(base->sorted = calloc(prof->n_controls, sizeof(*base->sorted))))
		return -ENOMEM;
	for (i = 0; i < prof->n_controls; i++) {
		const struct comp_control *c;

		c = comp_catalog_find(cat, prof->controls[i].id);
		if (!c)
			return errf(-BW_E_INVALID, ret_err,
			    "baseline control \"%s\" does not exist in the "
			    "catalog \"%s\" %s", prof->controls[i].id,
			    cat->title, cat->version);
		if (c->withdrawn)
			return errf(-BW_E_INVALID, ret_err,
			    "baseline control \"%s\" is withdrawn in the "
			    "catalog", c->id);
		base->controls[i] = c;
		base->sorted[i] = c;
	}
	base->n = prof->n_controls;
	qsort(base->sorted, base->n, sizeof(*base->sorted), comp_cmp_ctl);
	*ret_base = TAKE_PTR(base);
	return 0;
}

int
comp_baseline_load(const char *path, const struct comp_catalog *cat,
    struct comp_baseline **ret_base, char **ret_err)
{
	_cleanup_free_ char	*buf = NULL;
	size_t			 len;
	int			 r;

	if ((r = comp_read_doc(path, &buf, &len, ret_err)) < 0)
		return r;
	if ((r = comp_baseline_parse(buf, len, cat, ret_base, ret_err)) < 0)
		return errf_wrap(r, ret_err, "%s", path);
	return 0;
}

const char *
comp_baseline_title(const struct comp_baseline *base)
{
	return base->title;
}

size_t
comp_baseline_count(const struct comp_baseline *base)
{
	return base->n;
}

const struct comp_control *
comp_baseline_at(const struct comp_baseline *base, size_t i)
{
	return i < base->n ? base->controls[i] : NULL;
}

bool
comp_baseline_contains(const struct comp_baseline *base, const char *id)
{
	size_t lo = 0, hi = base->n;

	while (id && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcasecmp(id, base->sorted[mid]->id);

		if (d == 0)
			return true;
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

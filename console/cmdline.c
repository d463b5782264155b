/* The console's views by name; see cmdline.h. */
#include "config.h"

#include <string.h>

#include "console/cmdline.h"
#include "lib/macro.h"

static const struct lv_col instance_cols[] = {
	{ "NAME", "metadata.name", 24 }, { "TENANT", "metadata.tenant", 12 },
	{ "WORKLOAD", "spec.workload", 14 }, { "NODE", "spec.node", 10 },
	{ "PHASE", "status.phase", 0 },
};
static const struct lv_col workload_cols[] = {
	{ "NAME", "metadata.name", 20 }, { "TENANT", "metadata.tenant", 12 },
	{ "TYPE", "spec.type", 9 }, { "REPLICAS", "spec.replicas", 8 },
	{ "REV", "metadata.revision", 0 },
};
static const struct lv_col node_cols[] = {
	{ "NAME", "metadata.name", 20 }, { "PHASE", "status.phase", 10 },
	{ "ATTESTATION", "status.attestation", 12 },
	{ "ZONE", "spec.zone", 10 }, { "ADDRESS", "spec.address", 0 },
};
static const struct lv_col tenant_cols[] = {
	{ "NAME", "metadata.name", 24 }, { "REV", "metadata.revision", 8 },
	{ "CREATED", "metadata.created", 0 },
};
static const struct lv_col tenant_obj_cols[] = {
	{ "NAME", "metadata.name", 24 }, { "TENANT", "metadata.tenant", 16 },
	{ "REV", "metadata.revision", 0 },
};
static const struct lv_col image_cols[] = {
	{ "NAME", "metadata.name", 24 }, { "REV", "metadata.revision", 0 },
};
static const struct lv_col audit_cols[] = {
	/* the time to the second: its nanoseconds are in describe */
	{ "SEQ", "seq", 7 }, { "TIME", "time", 19 }, { "ACTOR", "actor", 12 },
	{ "ACTION", "action", 18 }, { "OBJECT", "object.name", 10 },
	{ "OUTCOME", "outcome", 0 },
};
static const struct lv_col check_cols[] = {
	{ "CHECK", "check", 30 }, { "CONTROL", "control", 10 },
	{ "VERDICT", "verdict", 0 },
};

/* A paged API list: /v1/PLURAL, read when whoami's "may" lists it. */
#define LIST(name, alias, plural, cols) \
	{ name, alias, CVIEW_LIST, "/v1/" plural, NULL, plural, cols, \
	  ELEMENTSOF(cols) }

static const struct cview views[] = {
	{ "dashboard", "dash", CVIEW_DASHBOARD, NULL, NULL, NULL, NULL, 0 },
	LIST("instances", "in", "instances", instance_cols),
	LIST("workloads", "wl", "workloads", workload_cols),
	LIST("nodes", "no", "nodes", node_cols),
	LIST("tenants", "tn", "tenants", tenant_cols),
	LIST("networks", "net", "networks", tenant_obj_cols),
	LIST("quotas", "quota", "quotas", tenant_obj_cols),
	LIST("rolebindings", "rb", "rolebindings", tenant_obj_cols),
	LIST("principals", "pr", "principals", tenant_obj_cols),
	LIST("images", "img", "images", image_cols),
	LIST("waivers", "wv", "waivers", tenant_cols),
	{ "audit", "au", CVIEW_AUDIT, "/v1/audit/records", "items", NULL,
	  audit_cols, ELEMENTSOF(audit_cols) },
	{ "checks", "ck", CVIEW_DOC, "/v1/compliance/results", "results", NULL,
	  check_cols, ELEMENTSOF(check_cols) },
	{ "quit", "q", CVIEW_QUIT, NULL, NULL, NULL, NULL, 0 },
};

const struct cview *
cmdline_find(const char *text)
{
	const struct cview	*found = NULL;
	size_t			 i, len;

	while (*text == ' ')
		text++;
	len = strcspn(text, " ");
	if (len == 0 || text[len + strspn(text + len, " ")] != '\0')
		return NULL;
	for (i = 0; i < ELEMENTSOF(views); i++) {
		if ((strlen(views[i].name) == len &&
		    strncmp(views[i].name, text, len) == 0) ||
		    (views[i].alias && strlen(views[i].alias) == len &&
		    strncmp(views[i].alias, text, len) == 0))
			return &views[i];
		if (strncmp(views[i].name, text, len) == 0) {
			if (found)
				return NULL;	/* ambiguous prefix */
			found = &views[i];
		}
	}
	return found;
}

const struct cview *
cmdline_views(size_t *ret_n)
{
	*ret_n = ELEMENTSOF(views);
	return views;
}

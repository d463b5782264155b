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

#define COLS_OF(c)	c, ELEMENTSOF(c)

static const struct cview views[] = {
	{ "dashboard", "dash", CVIEW_DASHBOARD, NULL, NULL, NULL, NULL, 0 },
	{ "instances", "in", CVIEW_LIST, "/v1/instances", NULL, "instances",
	  COLS_OF(instance_cols) },
	{ "workloads", "wl", CVIEW_LIST, "/v1/workloads", NULL, "workloads",
	  COLS_OF(workload_cols) },
	{ "nodes", "no", CVIEW_LIST, "/v1/nodes", NULL, "nodes",
	  COLS_OF(node_cols) },
	{ "tenants", "tn", CVIEW_LIST, "/v1/tenants", NULL, "tenants",
	  COLS_OF(tenant_cols) },
	{ "networks", "net", CVIEW_LIST, "/v1/networks", NULL, "networks",
	  COLS_OF(tenant_obj_cols) },
	{ "quotas", "quota", CVIEW_LIST, "/v1/quotas", NULL, "quotas",
	  COLS_OF(tenant_obj_cols) },
	{ "rolebindings", "rb", CVIEW_LIST, "/v1/rolebindings", NULL,
	  "rolebindings", COLS_OF(tenant_obj_cols) },
	{ "principals", "pr", CVIEW_LIST, "/v1/principals", NULL, "principals",
	  COLS_OF(tenant_obj_cols) },
	{ "images", "img", CVIEW_LIST, "/v1/images", NULL, "images",
	  COLS_OF(image_cols) },
	{ "waivers", "wv", CVIEW_LIST, "/v1/waivers", NULL, "waivers",
	  COLS_OF(tenant_cols) },
	{ "audit", "au", CVIEW_AUDIT, "/v1/audit/records", "items", NULL,
	  COLS_OF(audit_cols) },
	{ "checks", "ck", CVIEW_DOC, "/v1/compliance/results", "results", NULL,
	  COLS_OF(check_cols) },
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

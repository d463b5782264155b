/* Service addresses through nftables DNAT; see service.h. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cni.h"
#include "agent/service.h"
#include "lib/err.h"
#include "lib/macro.h"

#define SVC_TABLE	"ip bulwark_svc"

static bool
same_service(const struct svc_entry *a, const struct svc_entry *b, bool port)
{
	return strcmp(a->tenant, b->tenant) == 0 &&
	    strcmp(a->vip, b->vip) == 0 && (!port || a->port == b->port);
}

/* Whether an entry before V[I] has the same key: its rule is written. */
static bool
seen_before(const struct svc_entry *v, size_t i, bool port, bool tenant_only)
{
	for (size_t j = 0; j < i; j++)
		if (tenant_only ? strcmp(v[j].tenant, v[i].tenant) == 0 :
		    same_service(&v[j], &v[i], port))
			return true;
	return false;
}

/* The DNAT rule of V[I]'s service and port over its ready endpoints
 * (nothing when it has none: the reject answers). */
static int
render_dnat(FILE *f, const struct svc_entry *v, size_t n, size_t i,
    const char *br)
{
	size_t k = 0;

	for (size_t j = i; j < n; j++)
		if (same_service(&v[j], &v[i], true) && v[j].ip[0])
			k++;
	if (k == 0)
		return 0;
	fprintf(f, "\t\tiifname \"%s\" ip daddr %s tcp dport %u dnat to "
	    "numgen inc mod %zu map {", br, v[i].vip, v[i].port, k);
	k = 0;
	for (size_t j = i; j < n; j++) {
		if (!same_service(&v[j], &v[i], true) || !v[j].ip[0])
			continue;
		fprintf(f, "%s %zu : %s . %u", k ? "," : "", k, v[j].ip,
		    v[j].target_port);
		k++;
	}
	fprintf(f, " }\n");
	return 0;
}

int
svc_render(const struct svc_entry *v, size_t n, char **ret, char **ret_err)
{
	char	*text = NULL, br[CNI_BRIDGE_MAX + 1];
	size_t	 len = 0;
	FILE	*f;
	int	 r = 0;

	if (!(f = open_memstream(&text, &len)))
		return -errno;
	/* Adding first makes the deletion valid when it does not exist. */
	fprintf(f, "table " SVC_TABLE " {}\ndelete table " SVC_TABLE "\n");
	if (n == 0)
		goto out;
	fprintf(f, "table " SVC_TABLE " {\n\tchain pre {\n\t\ttype nat hook "
	    "prerouting priority dstnat; policy accept;\n");
	for (size_t i = 0; i < n && r == 0; i++)
		if (!seen_before(v, i, true, false) &&
		    (r = cni_bridge_name(v[i].tenant, br)) == 0)
			r = render_dnat(f, v, n, i, br);
	for (size_t i = 0; i < n && r == 0; i++)
		if (!seen_before(v, i, false, false) &&
		    (r = cni_bridge_name(v[i].tenant, br)) == 0)
			fprintf(f, "\t\tiifname \"%s\" ip daddr %s reject\n", br,
			    v[i].vip);
	fprintf(f, "\t}\n\tchain post {\n\t\ttype nat hook postrouting "
	    "priority srcnat; policy accept;\n");
	for (size_t i = 0; i < n && r == 0; i++)
		if (!seen_before(v, i, false, true) &&
		    (r = cni_bridge_name(v[i].tenant, br)) == 0)
			fprintf(f, "\t\tct status dnat oifname \"%s\" ip saddr "
			    "%s masquerade\n", br, v[i].subnet);
	fprintf(f, "\t}\n}\n");
out:
	if (fclose(f) != 0 && r == 0)
		r = -ENOMEM;
	if (r < 0) {
		free(text);
		return errf(r, ret_err, "service rules: %s", bw_strerror(r));
	}
	*ret = text;
	return 0;
}

int
svc_apply(const char *script, char **ret_err)
{
	return cni_nft_run(script, ret_err);
}

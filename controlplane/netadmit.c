#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controlplane/netadmit.h"
#include "controlplane/resource.h"
#include "lib/err.h"
#include "lib/json.h"
#include "lib/macro.h"
#include "lib/netpool.h"

/* Ranges no tenant network may touch (RFC 6890): packets to or from
 * them mean something else to the host than "this tenant"; and the
 * agents' own pool, whose subnets no Network records. */
static const struct {
	uint32_t	 addr;
	unsigned	 prefix;
	const char	*what;
} reserved[] = {
	{ 0x00000000u, 8, "\"this network\" (0.0.0.0/8, unspecified)" },
	{ 0x7f000000u, 8, "loopback (127.0.0.0/8)" },
	{ 0xa9fe0000u, 16, "link-local (169.254.0.0/16)" },
	{ 0xe0000000u, 4, "multicast (224.0.0.0/4)" },
	{ 0xf0000000u, 4, "reserved and broadcast (240.0.0.0/4)" },
	/* not RFC 6890, ours: the agents' default tenant subnets, which
	 * are not Networks (lib/netpool.h) */
	{ 0x0a000000u | (BW_NETPOOL_OCTET << 16), 16,
	    "the node agents' default tenant subnets (" BW_NETPOOL_CIDR ")" },
};

static uint32_t
mask_of(unsigned prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static int
overlaps(uint32_t a, unsigned pa, uint32_t b, unsigned pb)
{
	uint32_t m = mask_of(pa < pb ? pa : pb);

	return (a & m) == (b & m);
}

static void
fmt_cidr(char *buf, size_t len, uint32_t addr, unsigned prefix)
{
	snprintf(buf, len, "%u.%u.%u.%u/%u", addr >> 24, (addr >> 16) & 0xff,
	    (addr >> 8) & 0xff, addr & 0xff, prefix);
}

int
netadmit_cidr_parse(const char *text, uint32_t *ret_addr,
    unsigned *ret_prefix, char **ret_err)
{
	char		 host[16], want[20];
	const char	*slash, *p;
	struct in_addr	 in;
	unsigned	 prefix = 0;
	uint32_t	 addr;
	size_t		 hlen;

	slash = text ? strchr(text, '/') : NULL;
	if (!slash)
		return errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\": "
		    "must be an IPv4 network A.B.C.D/PREFIX", text ? text : "");
	hlen = (size_t)(slash - text);
	if (hlen == 0 || hlen >= sizeof(host))
		return errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\": "
		    "the address must be A.B.C.D", text);
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	/* inet_pton() takes exactly four decimal parts, no leading zeros
	 * (no octal surprises as with inet_aton()) and nothing else. */
	if (inet_pton(AF_INET, host, &in) != 1)
		return errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\": "
		    "\"%s\" is not an IPv4 address A.B.C.D", text, host);
	p = slash + 1;
	if (!*p || strlen(p) > 2 || (p[0] == '0' && p[1]))
		return errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\": "
		    "the prefix must be a number 0..32", text);
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return errf(-BW_E_INVALID, ret_err, "spec.subnet: "
			    "\"%.32s\": the prefix must be a number 0..32", text);
		prefix = prefix * 10 + (unsigned)(*p - '0');
	}
	if (prefix > 32)
		return errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\": "
		    "the prefix must be a number 0..32", text);
	addr = ntohl(in.s_addr);
	if (addr & ~mask_of(prefix)) {
		fmt_cidr(want, sizeof(want), addr & mask_of(prefix), prefix);
		return errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\": "
		    "host bits are set (the network is %s)", text, want);
	}
	*ret_addr = addr;
	*ret_prefix = prefix;
	return 0;
}

void
netadmit_set_listen(struct netadmit *na, const char *listen)
{
	char		 host[64];
	const char	*colon;
	struct in_addr	 in;
	size_t		 len;

	na->listen_addr = 0;
	if (!listen || listen[0] == '[' || !(colon = strrchr(listen, ':')))
		return;
	len = (size_t)(colon - listen);
	if (len >= sizeof(host))
		return;
	memcpy(host, listen, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, &in) == 1)
		na->listen_addr = ntohl(in.s_addr);
}

/* Bulwark's own tenant bridges ("bw" and 8 hex digits, agent/cni.c)
 * carry tenant subnets already checked elsewhere: a Network's against
 * the other Networks (check_stored()), an agent's default subnet by the
 * reserved pool (reserved[]). On a node that runs bulwarkd
 * they would otherwise make a tenant's own range look like the host's. */
static int
is_tenant_bridge(const char *name)
{
	size_t i;

	if (!name || strncmp(name, "bw", 2) != 0 || strlen(name) != 10)
		return 0;
	for (i = 2; i < 10; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}

static unsigned
prefix_of_mask(uint32_t m)
{
	unsigned n = 0;

	while (n < 32 && (m & (0x80000000u >> n)))
		n++;
	return n;
}

/* The host's own addresses and the networks of its interfaces. */
static int
check_host(const struct netadmit *na, const char *text, uint32_t addr,
    unsigned prefix, char **ret_err)
{
	struct ifaddrs	*ifs = NULL, *i;
	char		 a[20], n[20];
	int		 r = 0;

	if (na->listen_addr && overlaps(addr, prefix, na->listen_addr, 32)) {
		fmt_cidr(a, sizeof(a), na->listen_addr, 32);
		return errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\" "
		    "holds the host's address %s (bulwarkd listens on it)",
		    text, a);
	}
	if (getifaddrs(&ifs) < 0)
		return errf(-errno, ret_err, "spec.subnet: cannot read the "
		    "host's addresses: %s", strerror(errno));
	for (i = ifs; i; i = i->ifa_next) {
		uint32_t ia, im;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    is_tenant_bridge(i->ifa_name))
			continue;
		ia = ntohl(((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr);
		im = i->ifa_netmask ? ntohl(((struct sockaddr_in *)(void *)
		    i->ifa_netmask)->sin_addr.s_addr) : 0xffffffffu;
		if (overlaps(addr, prefix, ia, 32) ||
		    overlaps(addr, prefix, ia & im, prefix_of_mask(im))) {
			fmt_cidr(a, sizeof(a), ia, prefix_of_mask(im));
			fmt_cidr(n, sizeof(n), ia & im, prefix_of_mask(im));
			r = errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\" "
			    "overlaps the host's address %s on %.16s (network "
			    "%s)", text, a, i->ifa_name, n);
			break;
		}
	}
	freeifaddrs(ifs);
	return r;
}

/* Every other Network of every tenant, as stored. */
/* The overlap of TEXT with network OT/ON (OS) as WHO may be told. */
static int
overlap_err(const struct authz_identity *who, const char *text,
    const char *ot, const char *on, const char *os, const char *when,
    char **ret_err)
{
	if (!authz_tenant_visible(who, ot))
		return errf(-BW_E_CONFLICT, ret_err, "spec.subnet: \"%.32s\" "
		    "overlaps a network of another tenant%s", text, when);
	return errf(-BW_E_CONFLICT, ret_err, "spec.subnet: \"%.32s\" "
	    "overlaps network %s/%s (%s)%s", text, ot, on, os, when);
}

static int
check_stored(struct store *st, const struct authz_identity *who,
    const char *text, const char *tenant, const char *name, uint32_t addr,
    unsigned prefix, char **ret_err)
{
	const struct res_kind	*k = res_kind_by_name("Network");
	struct store_kv		**kvs = NULL;
	char			 pfx[RES_KEY_MAX];
	size_t			 n = 0, i;
	uint64_t		 rev;
	int			 r;

	if ((r = res_prefix(k, NULL, pfx, sizeof(pfx))) < 0 ||
	    (r = store_list(st, pfx, &kvs, &n, &rev)) < 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		_cleanup_json_ json_t *doc = json_loadb(kvs[i]->value,
		    kvs[i]->value_len, 0, NULL);
		const char	*ot = res_tenant(doc), *on = res_name(doc);
		const char	*os = json_string_value(json_object_get(
		    json_object_get(doc, "spec"), "subnet"));
		uint32_t	 oa;
		unsigned	 op;

		if (!os || !ot || !on ||
		    (strcmp(ot, tenant) == 0 && strcmp(on, name) == 0))
			continue;
		/* one stored before these checks existed may not parse */
		if (netadmit_cidr_parse(os, &oa, &op, NULL) < 0)
			continue;
		if (overlaps(addr, prefix, oa, op))
			r = overlap_err(who, text, ot, on, os, "", ret_err);
	}
	store_kv_array_free(kvs, n);
	return r;
}

int
netadmit_check(struct netadmit *na, struct store *st,
    const struct authz_identity *who, const json_t *doc, int *ret_claim,
    char **ret_err)
{
	const char	*text = json_string_value(json_object_get(
	    json_object_get(doc, "spec"), "subnet"));
	const char	*tenant = res_tenant(doc), *name = res_name(doc);
	char		 o[20];
	uint32_t	 addr;
	unsigned	 prefix;
	int		 r, free_slot = -1;
	size_t		 i;

	*ret_claim = -1;
	if (!text)
		return 0;
	if (!tenant || !name)
		return errf(-BW_E_INVALID, ret_err, "metadata: tenant and name "
		    "are required");
	if ((r = netadmit_cidr_parse(text, &addr, &prefix, ret_err)) < 0)
		return r;
	if (prefix < NETADMIT_PREFIX_MIN || prefix > NETADMIT_PREFIX_MAX)
		return errf(-BW_E_INVALID, ret_err, "spec.subnet: \"%.32s\": "
		    "the prefix must be %d..%d (room for a gateway and hosts, "
		    "and not a whole /%d of the address space)", text,
		    NETADMIT_PREFIX_MIN, NETADMIT_PREFIX_MAX,
		    NETADMIT_PREFIX_MIN - 1);
	for (i = 0; i < ELEMENTSOF(reserved); i++)
		if (overlaps(addr, prefix, reserved[i].addr, reserved[i].prefix))
			return errf(-BW_E_INVALID, ret_err, "spec.subnet: "
			    "\"%.32s\" overlaps %s", text, reserved[i].what);
	if ((r = check_host(na, text, addr, prefix, ret_err)) < 0)
		return r;
	/* Claims first: a creation in flight is not in the store yet. */
	for (i = 0; i < NETADMIT_CLAIMS_MAX; i++) {
		struct netadmit_claim *c = &na->claims[i];

		if (!c->used) {
			if (free_slot < 0)
				free_slot = (int)i;
			continue;
		}
		if (strcmp(c->tenant, tenant) == 0 && strcmp(c->name, name) == 0)
			return errf(-BW_E_CONFLICT, ret_err, "network %s/%s: "
			    "another change to it is being committed; retry",
			    tenant, name);
		if (overlaps(addr, prefix, c->addr, c->prefix)) {
			fmt_cidr(o, sizeof(o), c->addr, c->prefix);
			return overlap_err(who, text, c->tenant, c->name, o,
			    ", being created", ret_err);
		}
	}
	if (free_slot < 0)
		return errf(-BW_E_UNAVAILABLE, ret_err, "too many network "
		    "changes in flight (%d); retry", NETADMIT_CLAIMS_MAX);
	if ((r = check_stored(st, who, text, tenant, name, addr, prefix,
	    ret_err)) < 0)
		return r;
	na->claims[free_slot] = (struct netadmit_claim){ .used = 1,
	    .addr = addr, .prefix = prefix };
	snprintf(na->claims[free_slot].tenant, sizeof(na->claims[0].tenant),
	    "%s", tenant);
	snprintf(na->claims[free_slot].name, sizeof(na->claims[0].name), "%s",
	    name);
	*ret_claim = free_slot;
	return 0;
}

void
netadmit_release(struct netadmit *na, int claim)
{
	if (claim < 0 || claim >= NETADMIT_CLAIMS_MAX)
		return;
	na->claims[claim].used = 0;
}

/* Tenant networks through CNI plugins (spec 1.0.0): one Linux bridge
 * per tenant made by the `bridge` plugin with `host-local` IPAM, one
 * network namespace per instance, and nftables rules in our own table
 * `inet bulwark` that drop traffic routed between tenants' bridges and
 * traffic from a tenant to the host's addresses on other bridges.
 *
 * Names: bridge "bw" + the first 8 hex digits of SHA-256(tenant) (15
 * characters fit IFNAMSIZ; a tenant name may not), CNI network
 * "bw-TENANT", netns "bw-ID" under /run/netns. The nftables table:
 *   set bridges  { type ifname }            our tenant bridges
 *   set same     { type ifname . ifname }   (bridge . bridge) pairs
 *   chain forward: iif.oif in same accept; iif and oif both ours drop
 *   chain input:   from our bridges, only to addresses of that bridge */
#ifndef BW_CNI_H
#define BW_CNI_H

#define CNI_BRIDGE_MAX	15
#define CNI_TENANT_MAX	63

struct cni_config {
	const char	*plugin_dir;	/* NULL: /usr/lib/cni */
	const char	*state_dir;	/* NULL: /var/lib/bulwark/cni */
};

struct cni_network {
	const char	*tenant;	/* [a-z0-9-]{1,63} */
	const char	*subnet;	/* IPv4 CIDR, e.g. 10.89.1.0/24 */
	/* The instance's user namespace (runtime_userns_prepare()): its
	 * network namespace is made inside it, so the network capabilities
	 * the container holds there count in it. NULL: the host's. */
	const char	*userns_path;
};

struct cni_attachment {
	char	*netns_path;	/* for runtime_spec.netns_path */
	char	*address;	/* CIDR of eth0 */
	char	*gateway;
};

/* Writes the bridge name of TENANT into BUF (16 bytes). */
int cni_bridge_name(const char *tenant, char buf[CNI_BRIDGE_MAX + 1]);

/* Creates netns bw-ID and runs the bridge plugin's ADD in it (the
 * plugin makes the bridge on first use); adds the bridge to the
 * isolation sets. The ADD result is kept for CHECK and DEL. */
int cni_attach(const struct cni_config *c, const struct cni_network *n,
    const char *id, struct cni_attachment *ret, char **ret_err);

/* cni_attach() in two steps, so the container can be created while
 * its network is wired: cni_prepare() makes netns bw-ID with its
 * loopback up (*RET_NETNS, caller frees; in C, no `ip` process);
 * cni_connect() adds the isolation set entries and runs the plugin's
 * ADD in it, and may run on another thread.
 * After a failure of either, cni_detach() removes what exists. */
int cni_prepare(const struct cni_config *c, const struct cni_network *n,
    const char *id, char **ret_netns, char **ret_err);
int cni_connect(const struct cni_config *c, const struct cni_network *n,
    const char *id, struct cni_attachment *ret, char **ret_err);

/* The path of instance ID's network namespace (*RET, caller frees),
 * whether it exists or not: what the agent's probes enter. */
int cni_netns_path(const char *id, char **ret);

/* Runs SCRIPT through `nft -f -` (the service rules, agent/service.h,
 * keep a table of their own). */
int cni_nft_run(const char *script, char **ret_err);

/* Runs CHECK against the kept ADD result. */
int cni_check(const struct cni_config *c, const struct cni_network *n,
    const char *id, char **ret_err);

/* Runs DEL (releasing the address) and removes netns bw-ID. Idempotent. */
int cni_detach(const struct cni_config *c, const struct cni_network *n,
    const char *id, char **ret_err);

/* Removes TENANT's bridge, its set elements and IPAM state; call when
 * its last instance detached. Idempotent. */
int cni_network_delete(const struct cni_config *c, const char *tenant,
    char **ret_err);

/* Removes table inet bulwark (node decommission, tests). */
int cni_teardown(char **ret_err);

void cni_attachment_done(struct cni_attachment *a);

#endif

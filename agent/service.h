/* Service addresses on tenant networks: a workload's stable address
 * (spec.service) reaches the ready instances of that workload on this
 * node, through nftables DNAT in the node's network namespace, in our
 * own table `ip bulwark_svc` (nothing else touched):
 *
 *   chain pre (nat prerouting): from the tenant's bridge only,
 *     ip daddr VIP tcp dport PORT dnat to numgen inc mod N map {
 *       0 : EP0 . TARGET, 1 : EP1 . TARGET, ... }   (round robin)
 *     ip daddr VIP reject                           (no ready endpoint)
 *   chain post (nat postrouting): traffic DNATed back out of a bridge
 *     is masqueraded to the bridge's gateway address, so the endpoint's
 *     answer returns through the node (client and endpoint share the
 *     bridge) and is translated back.
 *
 * The rules match the tenant's bridge as the input interface, so
 * another tenant's packets to the same address are never translated:
 * each tenant has its own service addresses. */
#ifndef BW_SERVICE_H
#define BW_SERVICE_H

#include <stddef.h>

#define SVC_ADDR_MAX	16	/* dotted IPv4 and NUL */

/* One ready endpoint of a service, or (IP empty) a service that has
 * none on this node. */
struct svc_entry {
	const char	*tenant;
	const char	*subnet;		/* the tenant's, CIDR */
	char		 vip[SVC_ADDR_MAX];
	unsigned	 port, target_port;
	char		 ip[SVC_ADDR_MAX];
};

/* The nftables script that makes table ip bulwark_svc hold exactly the
 * services of V (N entries, any order), replacing what it held in one
 * transaction; with no entries it only removes the table. *RET (caller
 * frees). */
int svc_render(const struct svc_entry *v, size_t n, char **ret,
    char **ret_err);

/* Runs SCRIPT (from svc_render) through nft. */
int svc_apply(const char *script, char **ret_err);

#endif

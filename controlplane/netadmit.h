/* Admission of tenant networks: a Network's spec.subnet must be an
 * IPv4 network in CIDR form that no one else uses. Refused with 400
 * (field spec.subnet): malformed text, host bits set, a prefix outside
 * NETADMIT_PREFIX_MIN..NETADMIT_PREFIX_MAX, loopback, this-network
 * (0/8), link-local, multicast, reserved and broadcast (240/4), and any
 * range holding one of the host's own addresses or overlapping one of
 * its interfaces' networks (getifaddrs(), read at each admission) or
 * the daemon's listen address. Refused with 409: a range overlapping
 * another Network of any tenant, stored or being committed (SC-7). */
#ifndef BW_NETADMIT_H
#define BW_NETADMIT_H

#include <stdint.h>

#include <jansson.h>

#include "controlplane/authz.h"
#include "controlplane/store.h"

#define NETADMIT_PREFIX_MIN	8
#define NETADMIT_PREFIX_MAX	30
#define NETADMIT_CLAIMS_MAX	64

/* Subnets admitted but not yet committed: two creations in flight at
 * once cannot both pass the overlap check (admission and commit
 * completion both run on the API's event loop). */
struct netadmit_claim {
	int		used;
	char		tenant[64], name[64];
	uint32_t	addr;		/* host byte order */
	unsigned	prefix;
};

struct netadmit {
	struct netadmit_claim	claims[NETADMIT_CLAIMS_MAX];
	uint32_t		listen_addr;	/* host order; 0: none/any */
};

/* Parses TEXT, "A.B.C.D/P" (dotted quad as inet_pton() reads it, P a
 * decimal 0..32 without sign, spaces or leading zeros) into *RET_ADDR
 * (host byte order) and *RET_PREFIX. Host bits must be zero. Returns 0
 * or -BW_E_INVALID with a message starting "spec.subnet: ". */
int netadmit_cidr_parse(const char *text, uint32_t *ret_addr,
    unsigned *ret_prefix, char **ret_err);

/* Remembers LISTEN ("ADDR:PORT"; IPv6 and wildcard are ignored: the
 * interface addresses cover them) as one of the host's addresses. */
void netadmit_set_listen(struct netadmit *na, const char *listen);

/* Admits DOC, a validated Network about to be created or replaced by
 * WHO, whose messages name another tenant's network only when WHO may
 * see that tenant (authz_tenant_visible()): to a tenant it is "a
 * network of another tenant", so no name leaks across tenants.
 * Without spec.subnet there is nothing to check (*RET_CLAIM = -1).
 * Otherwise on success *RET_CLAIM is a claim to release with
 * netadmit_release() once the commit has finished (either way).
 * Returns 0, -BW_E_INVALID or -BW_E_CONFLICT with the reason in
 * *ret_err, -BW_E_UNAVAILABLE when too many creations are in flight,
 * or a store error. */
int netadmit_check(struct netadmit *na, struct store *st,
    const struct authz_identity *who, const json_t *doc, int *ret_claim,
    char **ret_err);

/* Releases CLAIM (ignored when negative). */
void netadmit_release(struct netadmit *na, int claim);

#endif

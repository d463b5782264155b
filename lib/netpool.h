/* The pool the node agents take their default tenant subnets from
 * (agent/agent-run.c, default_subnet(): 10.X.N.0/24, one per tenant
 * and node). These subnets are not Network objects, so the control plane
 * admits no Network inside the pool (controlplane/netadmit.c). */
#ifndef BW_NETPOOL_H
#define BW_NETPOOL_H

/* X of 10.X.0.0/16, and the pool as text (change both together) */
#define BW_NETPOOL_OCTET	88
#define BW_NETPOOL_CIDR		"10.88.0.0/16"

#endif

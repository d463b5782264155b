#!/bin/sh
# Tenant networks: two tenants with two containers each, attached by
# the CNI bridge plugin through the runtime library. Within a tenant
# ping works; across tenants (routed between bridges, or to the other
# bridge's gateway) it fails; with our nftables table removed the same
# cross pings succeed, so the table is what isolates. Detach releases
# the IP allocations; deleting the networks leaves no veth, bridge,
# netns or table. Everything happens inside a private "node" network
# namespace so the host's own network is untouched.
set -u
. "$top_srcdir/tests/integration/runtime-common.sh"
NODE="bwnode-$P"
IN="nsenter --net=/run/netns/$NODE"

cleanup() {
	for id in $($RT list 2>/dev/null); do
		$IN $RT delete "$id" >/dev/null 2>&1
	done
	for t in a b; do
		for i in 1 2; do
			$IN $RT net-detach "$P$t" "10.77.$([ $t = a ] && echo 1 || echo 2).0/24" \
				"$P-$t$i" >/dev/null 2>&1
		done
	done
	ip netns delete "$NODE" 2>/dev/null
	base_cleanup
}
trap cleanup EXIT
trap 'exit 1' INT TERM

[ -x /usr/lib/cni/bridge ] || fail "CNI plugins missing (containernetworking-plugins)"
ip netns add "$NODE" || fail "node netns"
$IN ip link set lo up

make_rootfs "$TMP/rootfs.tar"
ROOT=$(import_rootfs "$TMP/rootfs.tar")

subnet() { [ "$1" = a ] && echo 10.77.1.0/24 || echo 10.77.2.0/24; }

for t in a b; do
	for i in 1 2; do
		out=$($IN $RT net-attach "$P$t" "$(subnet $t)" "$P-$t$i") ||
			fail "attach $t$i"
		eval "ns_$t$i=\$(echo \"\$out\" | awk '{ print \$1 }')"
		eval "ip_$t$i=\$(echo \"\$out\" | awk '{ print \$2 }' | cut -d/ -f1)"
		$IN $RT net-check "$P$t" "$(subnet $t)" "$P-$t$i" ||
			fail "CNI CHECK $t$i"
	done
done
echo "a1=$ip_a1 a2=$ip_a2 b1=$ip_b1 b2=$ip_b2"
gw_b=10.77.2.1

# Long-running containers that answer pings (the pingers are containers
# of their own, see cping).
for t in a b; do
	for i in 1 2; do
		eval "ns=\$ns_$t$i"
		$IN $RT create "$P-$t$i" "$ROOT" --netns "$ns" --cap CAP_NET_RAW \
			-- sh -c 'echo up; exec sleep 600' || fail "create $t$i"
	done
done

# A pinger of container $1's tenant, wired as the agent wires an
# instance (its own user namespace, its network namespace inside it, so
# CAP_NET_RAW counts there): pinger_attach ID SRC, then ping_from ID DEST
# (once per ID: the delete ends its user namespace), then pinger_detach.
pinger_attach() {
	t=$(echo "$2" | cut -c1)
	out=$($IN $RT net-attach "$P$t" "$(subnet $t)" "$P-$1") || fail "attach pinger $1"
	eval "pns_$1=\$(echo \"\$out\" | awk '{ print \$1 }')"
	eval "pt_$1=$t"
}
ping_from() {
	eval "pns=\$pns_$1"
	$IN $RT create "$P-$1" "$ROOT" --netns "$pns" --cap CAP_NET_RAW -- \
		ping -c 1 -W 2 "$2" >/dev/null || fail "create pinger"
	st=$($RT wait "$P-$1" 20000) || fail "pinger hangs"
	$RT delete "$P-$1" >/dev/null || fail "delete pinger"
	[ "$(field code "$st")" = 0 ]
}
pinger_detach() {
	eval "t=\$pt_$1"
	$IN $RT net-detach "$P$t" "$(subnet $t)" "$P-$1" || fail "detach pinger $1"
}
# cping SRC DEST: a pinger of SRC's tenant pings DEST.
cping() {
	pinger_attach p "$1"
	ping_from p "$2"
	r=$?
	pinger_detach p
	return $r
}

echo "== within a tenant"
cping a1 "$ip_a2" || fail "a1 -> a2 failed"
cping b1 "$ip_b2" || fail "b1 -> b2 failed"
echo "== across tenants"
cping a1 "$ip_b1" && fail "a1 -> b1 succeeded"
cping b2 "$ip_a2" && fail "b2 -> a2 succeeded"
cping a1 "$gw_b" && fail "a1 -> tenant b's gateway succeeded"
echo "== control: without table inet bulwark the same pings pass"
$IN nft list table inet bulwark >/dev/null || fail "no nftables table"
# (attached first: an attachment makes the table again)
pinger_attach q1 a1
pinger_attach q2 a1
$IN $RT net-teardown || fail "teardown"
ping_from q1 "$ip_b1" || fail "a1 -> b1 fails even without isolation"
ping_from q2 "$gw_b" || fail "a1 -> gateway b fails even without isolation"
pinger_detach q1
pinger_detach q2

echo "== delete"
for t in a b; do
	for i in 1 2; do
		$IN $RT delete "$P-$t$i" >/dev/null || fail "delete $t$i"
		$IN $RT net-detach "$P$t" "$(subnet $t)" "$P-$t$i" ||
			fail "detach $t$i"
	done
	# DEL released every address: only host-local's bookkeeping stays.
	d="$CNI/ipam/bw-$P$t"
	left=$(ls "$d" 2>/dev/null | grep -v -e '^lock$' -e '^last_reserved_ip')
	[ -z "$left" ] || fail "IP allocations left in $d: $left"
	$IN $RT net-delete "$P$t" || fail "delete network $t"
	[ -d "$d" ] && fail "IPAM state of $t left"
done
# A second delete and detach are harmless.
$IN $RT net-delete "${P}a" || fail "repeated network delete"
$IN $RT net-detach "${P}a" "$(subnet a)" "$P-a1" || fail "repeated detach"

links=$($IN ip -o link show | awk -F': ' '{ print $2 }' | grep -v '^lo$')
[ -z "$links" ] || fail "links left in the node namespace: $links"
$IN nft list table inet bulwark >/dev/null 2>&1 && fail "nftables table left"
check_clean
echo "$NAME: ok"

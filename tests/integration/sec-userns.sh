#!/bin/sh
# Issue 13, "also found": containers run in a user namespace of their
# own. Root inside (id 0) is an unprivileged host id: each container gets
# its own range of 65,536 host ids (uid_map "0 BASE 65536", never the
# identity map "0 0 4294967295"), its processes run as that host id, two
# containers' ranges do not overlap, and the image (owned by host root,
# with a 0600 file in a 0700 directory) is still readable to the
# container's root through an idmapped mount. Environment values with
# spaces, '$', '&' and '=' reach the process as given (no shell).
set -u
. "$top_srcdir/tests/integration/runtime-common.sh"
trap base_cleanup EXIT
trap 'exit 1' INT TERM

r="$TMP/rootfs-src"
mkdir -p "$r/bin" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/etc/private" || fail "dirs"
cp /bin/busybox "$r/bin/busybox" || fail "busybox"
for a in sh echo sleep cat id ls touch stat; do ln -sf busybox "$r/bin/$a"; done
echo "only root reads this" >"$r/etc/private/secret"
chmod 0700 "$r/etc/private"
chmod 0600 "$r/etc/private/secret"
tar -C "$r" --owner=0 --group=0 -cf "$TMP/rootfs.tar" . || fail "tar"
make_key_and_sign() {
	mkdir -p "$TMP/trust" "$TMP/keys"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 \
		-out "$TMP/keys/publisher.key" 2>/dev/null || fail "genpkey"
	openssl pkey -in "$TMP/keys/publisher.key" -pubout \
		-out "$TMP/trust/publisher.pem" || fail "pubkey"
	$RT sign "$TMP/keys/publisher.key" "$1" || fail "sign"
}
make_key_and_sign "$TMP/rootfs.tar"
ROOT=$(import_rootfs "$TMP/rootfs.tar")
[ "$(stat -c %u "$ROOT/etc/private/secret")" = 0 ] || fail "image file not owned by host root"

URLV='https://example.com/a?b=c&d=$HOME;x=`id`'
for i in 1 2; do
	$RT create "$P-u$i" "$ROOT" --mem 32 \
		--env 'JAVA_OPTS=-Xmx512m -Dx=y' --env "URL=$URLV" -- sh -c '
		echo "uid=$(id -u) gid=$(id -g)"
		echo "uid_map: $(cat /proc/self/uid_map)"
		echo "gid_map: $(cat /proc/self/gid_map)"
		echo "secret: $(cat /etc/private/secret)"
		echo "JAVA_OPTS=[$JAVA_OPTS]"
		echo "URL=[$URL]"
		touch /tmp/mine && echo "tmp owner: $(stat -c %u /tmp/mine)"
		echo ready; exec sleep 600' || fail "create u$i"
done
for i in 1 2; do
	wait_log "$P-u$i" 200 ready || { cat "$($RT log "$P-u$i")"; fail "u$i not ready"; }
done
l1=$($RT log "$P-u1"); l2=$($RT log "$P-u2")
cat "$l1"
grep -q '^uid=0 gid=0$' "$l1" || fail "root inside is not id 0"
map1=$(sed -n 's/^uid_map: *//p' "$l1" | tr -s ' ')
map2=$(sed -n 's/^uid_map: *//p' "$l2" | tr -s ' ')
echo "u1 uid_map: $map1; u2 uid_map: $map2"
[ "$map1" != "0 0 4294967295" ] || fail "u1 runs in the host's user namespace (uid_map $map1)"
set -- $map1
[ $# -eq 3 ] && [ "$1" = 0 ] && [ "$2" -ge 100000 ] && [ "$3" = 65536 ] ||
	fail "u1's uid_map is not 0 BASE 65536: $map1"
h1=$2
set -- $map2
h2=${2:-0}
[ "$h2" -ge 100000 ] || fail "u2's uid_map: $map2"
[ $((h1 - h2)) -ge 65536 ] || [ $((h2 - h1)) -ge 65536 ] ||
	fail "u1 ($h1) and u2 ($h2) share host ids"
gmap1=$(sed -n 's/^gid_map: *//p' "$l1" | tr -s ' ')
[ "$gmap1" = "$map1" ] || fail "u1's gid_map ($gmap1) is not its uid_map"
st=$($RT status "$P-u1")
pid=$(field pid "$st")
huid=$(ps -o uid= -p "$pid" | tr -d ' ')
echo "u1's init on the host: pid $pid uid $huid"
[ "$huid" = "$h1" ] || fail "u1's init runs as host uid $huid, not $h1"
grep -q '^secret: only root reads this$' "$l1" || fail "the image's 0600 file is not readable to the container's root"
grep -q '^tmp owner: 0$' "$l1" || fail "a file the container makes is not its root's"
grep -qF 'JAVA_OPTS=[-Xmx512m -Dx=y]' "$l1" || fail "JAVA_OPTS changed on its way"
grep -qF "URL=[$URLV]" "$l1" || fail "URL changed on its way"
[ "$(jq -r '.linux.uidMappings[0].hostID' "$STATE/$P-u1/config.json")" = "$h1" ] ||
	fail "config.json's uidMappings"

echo "== delete; the ranges are free again"
for id in $($RT list); do
	$RT delete "$id" || fail "delete $id"
done
check_clean
[ -z "$(ls -A "$RUN/uid-ranges" 2>/dev/null)" ] || fail "id ranges left: $(ls "$RUN/uid-ranges")"
$RT create "$P-u3" "$ROOT" -- sh -c 'cat /proc/self/uid_map; echo ready; exec sleep 600' || fail "create u3"
wait_log "$P-u3" 200 ready || fail "u3 not ready"
map3=$(head -1 "$($RT log "$P-u3")" | tr -s ' ' | sed 's/^ //')
echo "u3 uid_map: $map3"
[ "$map3" != "0 0 4294967295" ] || fail "u3 in the host's user namespace"
$RT delete "$P-u3" || fail "delete u3"
check_clean
echo "$NAME: ok"

#!/bin/bash
# Issue 5, Done-means 6 through the API: images come from local media,
# signed by a trusted publisher. Unsigned, altered, wrongly digested or
# untrusted images, and files outside the import roots, are refused with a
# clear error and an audit record; a good one becomes an Image object.
. "$(dirname "$0")/lib.sh" || exit 99

MEDIA="$T/media"
mkdir -p "$MEDIA/rootfs/bin" "$T/d"
cp /bin/busybox "$MEDIA/rootfs/bin/" 2>/dev/null || echo hello >"$MEDIA/rootfs/bin/hello"
tar -C "$MEDIA/rootfs" -cf "$MEDIA/good.tar" .
cp "$MEDIA/good.tar" "$MEDIA/unsigned.tar"
"$BW/bulwarkd" --data-dir "$T/d" --listen 127.0.0.1:0 --import-root "$MEDIA" \
	>>"$T/d/bulwarkd.log" 2>&1 &
BWD_PID=$!
BW_PIDS="$BW_PIDS $BWD_PID"
for _ in $(seq 200); do [ -f "$T/d/admin.conf" ] && break; sleep 0.05; done
sleep 0.3
CONF="$T/d/admin.conf"
B="$BW/bulwark --config $CONF"
openssl ecparam -name secp384r1 -genkey -noout -out "$T/pub.key" 2>/dev/null
openssl ec -in "$T/pub.key" -pubout -out "$T/publisher.pem" 2>/dev/null
openssl ecparam -name secp384r1 -genkey -noout -out "$T/rogue.key" 2>/dev/null

check "the publisher signs offline" $BW/bulwark image sign --key "$T/pub.key" "$MEDIA/good.tar"
check "the admin trusts the publisher" $B image trust add "$T/publisher.pem"
$B image import "$MEDIA/good.tar" >"$T/ok.out" 2>&1
check "a signed image is imported" grep -q "imported" "$T/ok.out"
digest="sha256:$(sha256sum "$MEDIA/good.tar" | cut -d' ' -f1)"
check "get images lists its digest" sh -c "$B get images -o json | jq -e --arg d '$digest' '[.items[].spec.digest] | index(\$d) != null' >/dev/null"

refused() { # description file [extra args]: import must fail with a message
	local what="$1" f="$2"; shift 2
	$B image import "$f" "$@" >"$T/r.out" 2>&1; rc=$?
	check "$what: refused (exit $rc)" [ $rc != 0 ]
	check "$what: the error says why: $(head -c 160 "$T/r.out")" [ -s "$T/r.out" ]
}
refused "unsigned image" "$MEDIA/unsigned.tar"
cp "$MEDIA/good.tar" "$MEDIA/altered.tar"; cp "$MEDIA/good.tar.sig" "$MEDIA/altered.tar.sig"
printf 'x' >>"$MEDIA/altered.tar"
refused "altered after signing" "$MEDIA/altered.tar"
refused "wrong expected digest" "$MEDIA/good.tar" --digest "sha256:$(printf '0%.0s' $(seq 64))"
cp "$MEDIA/unsigned.tar" "$MEDIA/rogue.tar"
$BW/bulwark image sign --key "$T/rogue.key" "$MEDIA/rogue.tar" >/dev/null
refused "signed by an untrusted key" "$MEDIA/rogue.tar"
cp "$MEDIA/good.tar" "$T/outside.tar"; cp "$MEDIA/good.tar.sig" "$T/outside.tar.sig"
refused "outside the import roots" "$T/outside.tar"
sleep 1.5
$BW/bulwark --config "$T/d/auditor.conf" audit search --action image.import -o json >"$T/a.json"
check "refusals are audited (denied or failure)" \
	sh -c "jq -e '[.items[] | select(.outcome != \"success\")] | length >= 4' '$T/a.json' >/dev/null"
check "the import is audited with its signer" \
	sh -c "jq -e '[.items[] | select(.outcome == \"success\" and (.reason | test(\"signed by publisher\")))] | length == 1' '$T/a.json' >/dev/null"
finish

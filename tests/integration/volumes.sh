#!/bin/bash
# Volumes end to end (issue 22, Done-means 1, 3 and part of 4), through
# the API, real crun and busybox: a container writes a marker to its
# encrypted volume; its init is killed and restarted, then its workload
# is updated (a new template, so a new instance): the marker is there
# each time. The volume's backing file holds neither the marker nor the
# file's name. A second workload using the volume waits (one instance at
# a time), another tenant's workload naming it does not find it and its
# principal cannot read it (404); the volume quota refuses with the
# numbers. Each tenant's volume keys are wrapped under a key of its own;
# deleting beta's last volume wipes beta's key and leaves acme's. Deleting
# the volume wipes its key: a copy of the backing file saved before
# mounts, but its data directory cannot be read. A mount of the volume
# kept alive in another mount namespace holds its detach, the restore
# and the next attach until that namespace ends.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

# hold_mount NAME MOUNTPOINT WHOSE: a mount namespace copied while
# MOUNTPOINT is mounted holds a mount of its file system (as a
# container's namespace not torn down yet does), until release_mount
# NAME. The holder (its pid in HOLDER[NAME]) lives while the test holds
# the write end of its pipe (HOLD_FD[NAME]): a test killed outright
# takes it (and the loop device) along.
declare -A HOLDER HOLD_FD
hold_mount() {
	local name=$1 mnt=$2 whose=$3 fd
	mkfifo "$T/hold-$name"
	unshare -m --propagation private sh -c 'exec cat >/dev/null' <"$T/hold-$name" &
	HOLDER[$name]=$!
	exec {fd}>"$T/hold-$name"
	HOLD_FD[$name]=$fd
	# the holder is the test's own fork until it has opened the pipe
	# and run unshare: only a mount namespace of its own counts.
	check "a namespace holding a copy of $whose mount" wait_for 10 bash -c \
		"[ \"\$(readlink /proc/${HOLDER[$name]}/ns/mnt)\" != \"\$(readlink /proc/$$/ns/mnt)\" ] &&
		nsenter -t ${HOLDER[$name]} -m mountpoint -q '$mnt'"
}
# release_mount NAME [kill]: closes the holder's pipe, so it ends (or
# kills it too), and reaps it.
release_mount() {
	local fd=${HOLD_FD[$1]}
	exec {fd}>&-
	[ -z "${2:-}" ] || kill "${HOLDER[$1]}" 2>/dev/null
	wait "${HOLDER[$1]}" 2>/dev/null
	unset "HOLDER[$1]" "HOLD_FD[$1]"
}
# every holder still held is released before the volumes are cleaned up
# (a mount it holds keeps the loop device)
release_mounts_cleanup_volumes() {
	local name
	for name in "${!HOLDER[@]}"; do release_mount "$name" kill; done
	wl_cleanup_volumes
}
trap release_mounts_cleanup_volumes EXIT

wl_start

MARK="bulwark-volume-marker-$P"
app() { # ENV-VALUE [REPLICAS]: the workload using volume db
	cat <<EOF
{"kind": "Workload", "metadata": {"name": "app", "tenant": "acme"},
 "spec": {"type": "container", "image": "$DIGEST", "replicas": ${2:-1},
          "resources": {"cpu_millis": 100, "memory_mib": 32},
          "env": {"VERSION": "$1"},
          "volumes": [{"volume": "db", "path": "/data"}],
          "command": ["sh", "-c", "[ -f /data/secret.txt ] || echo $MARK >/data/secret.txt; echo \$VERSION >>/data/boots; trap 'exit 0' TERM; while :; do sleep 1; done"],
          "restart_policy": "always"}}
EOF
}
{ echo '{"kind": "Tenant", "metadata": {"name": "acme"}, "spec": {}}'
  echo '{"kind": "Tenant", "metadata": {"name": "beta"}, "spec": {}}'
  echo '{"kind": "Volume", "metadata": {"name": "db", "tenant": "acme"}, "spec": {"size_bytes": 67108864}}'
  app 1; } >"$T/app.json"
check "apply a volume and a workload using it" $B apply -f "$T/app.json"
wait_for 60 inst_is acme app-0 '.status.phase == "Running"' ||
	{ fail "app-0 Running"; tail -30 "$T/agent.log" >&2; inst acme app-0 >&2; finish; }
pass "app-0 Running"
check "the volume is bound to n1, where app-0 runs" bash -c \
	"$B get volume db -t acme -o json | jq -e '.spec.node == \"n1\"' >/dev/null"
VUID=$($B get volume db -t acme -o json | jq -r .metadata.uid)
V="$NS/volumes/$VUID"
check "the marker is in the volume ($V)" wait_for 20 grep -q "$MARK" "$V/mnt/data/secret.txt"
check "its start reports the attach" inst_is acme app-0 '.status.last_event == "started; volume db attached"'
check "the binding is audited" bash -c \
	"$BW/bulwark --config $AUDITOR audit search --action volume.bind -o json | jq -e '[.items[] | select(.object.name == \"db\")] | length >= 1' >/dev/null"

echo "== the backing file holds no plaintext"
sync
check "the backing file is sparse and of the volume's size" bash -c \
	"[ \$(stat -c %s '$V/backing.img') = 67108864 ] && [ \$(du -k '$V/backing.img' | cut -f1) -lt 65536 ]"
check_fails "the marker is not in the backing file" grep -aq "$MARK" "$V/backing.img"
check_fails "nor the file's name" grep -aq "secret.txt" "$V/backing.img"
check "the volume's key is only wrapped (96 bytes), the node key sealed" bash -c \
	"[ \$(stat -c %s '$V/key.wrapped') = 96 ] && [ -s '$NS/volumes/kek.sealed' ]"

echo "== kill app-0's init: restarted, the marker is there"
uid=$(inst acme app-0 | jq -r .status.runtime_id)
pid=$(crun --root "$RUN/crun" state "bw-$uid" | jq -r .pid)
kill -9 "$pid"
check "app-0 is restarted" wait_for 30 inst_is acme app-0 '.status.restarts == 1 and .status.phase == "Running"'
check "the restarted container reads the marker and booted twice" wait_for 20 bash -c \
	"grep -q '$MARK' '$V/mnt/data/secret.txt' && [ \$(grep -c . '$V/mnt/data/boots') = 2 ]"
# through the container's own mount namespace
pid=$(crun --root "$RUN/crun" state "bw-$uid" | jq -r .pid)
check "inside the container /data/secret.txt holds the marker" bash -c \
	"nsenter -t $pid -U -m /bin/busybox cat /data/secret.txt | grep -q '$MARK'"

echo "== update the workload: a new instance, the marker is there"
tmpl_old=$(inst acme app-0 | jq -r .spec.template)
app 2 | $B apply -f - >/dev/null || fail "apply version 2"
check "app-0 Running from the new template" wait_for 90 inst_is acme app-0 \
	".status.phase == \"Running\" and .spec.template != \"$tmpl_old\""
check "the new instance reads the old marker (boots: 1, 1, 2)" wait_for 20 bash -c \
	"grep -q '$MARK' '$V/mnt/data/secret.txt' && [ \"\$(tr '\n' ' ' <'$V/mnt/data/boots')\" = '1 1 2 ' ]"

echo "== one instance at a time; other tenants do not find the volume"
cat >"$T/second.json" <<EOF
[{"kind": "Workload", "metadata": {"name": "second", "tenant": "acme"},
  "spec": {"type": "container", "image": "$DIGEST", "replicas": 1,
           "resources": {"cpu_millis": 100, "memory_mib": 16},
           "volumes": [{"volume": "db", "path": "/data"}],
           "command": ["sleep", "1000"]}},
 {"kind": "Workload", "metadata": {"name": "thief", "tenant": "beta"},
  "spec": {"type": "container", "image": "$DIGEST", "replicas": 1,
           "resources": {"cpu_millis": 100, "memory_mib": 16},
           "volumes": [{"volume": "db", "path": "/data"}],
           "command": ["sleep", "1000"]}}]
EOF
check "apply a second acme workload and a beta one naming volume db" $B apply -f "$T/second.json"
check "the second waits: the volume is attached to app-0" wait_for 30 inst_is acme second-0 \
	'.status.phase == "Pending" and (.status.message | test("volume db is attached to instance app-0"))'
check "beta's finds no volume db of its own" wait_for 30 inst_is beta thief-0 \
	'.status.phase == "Pending" and .status.message == "volume db does not exist"'
$B principal create tu -t beta --role tenant-user --out "$T/p" >/dev/null || fail "create beta's tenant-user"
bcurl() { curl -s -o /dev/null -w '%{http_code}' --cacert "$PKI/ca.crt" --cert "$T/p/tu.crt" --key "$T/p/tu.key" "$@"; }
check "beta's tenant-user cannot read acme's volume (404)" [ "$(bcurl "$URL/v1/tenants/acme/volumes/db")" = 404 ]
check "nor delete it (404)" [ "$(bcurl -X DELETE "$URL/v1/tenants/acme/volumes/db")" = 404 ]
check "nor replace it (404)" [ "$(bcurl -X PUT -H 'Content-Type: application/json' \
	--data '{"kind":"Volume","metadata":{"name":"db","tenant":"acme"},"spec":{"size_bytes":16777216}}' \
	"$URL/v1/tenants/acme/volumes/db")" = 404 ]
echo '{"kind": "Volume", "metadata": {"name": "db", "tenant": "acme"}, "spec": {"size_bytes": 67108864}}' |
	$B apply -f - >/dev/null || fail "re-apply the volume without its node"
check "a re-applied volume without its node gets it back" wait_for 10 bash -c \
	"[ \"\$($B get volume db -t acme -o json | jq -r .spec.node)\" = n1 ]"
check "delete the second workloads" bash -c "$B delete workload second -t acme && $B delete workload thief -t beta"

echo "== quota: volume bytes"
echo '{"kind": "Quota", "metadata": {"name": "q", "tenant": "acme"}, "spec": {"volume_bytes": 100000000}}' |
	$B apply -f - >/dev/null || fail "set acme's volume quota"
out=$(echo '{"kind": "Volume", "metadata": {"name": "big", "tenant": "acme"}, "spec": {"size_bytes": 67108864}}' |
	$B apply -f - 2>&1) && fail "a volume past the quota is refused"
echo "$out"
check "the refusal names used, requested and limit" bash -c \
	"echo '$out' | grep -q 'volume_bytes: used 67108864, requested 67108864, limit 100000000'"
check "quota usage counts the volume" bash -c \
	"$B get quota q -t acme -o json | jq -e '.status.used.volume_bytes == 67108864' >/dev/null"

# delete_saving TENANT WORKLOAD VOLUME DIR SAVED: deletes the workload,
# saves the detached volume's backing file (in DIR) to SAVED, deletes the
# volume and waits for the node to delete DIR (key, backing file).
delete_saving() {
	check "delete $1's workload $2" $B delete workload "$2" -t "$1"
	# Unmounted here is not enough: until the file system's last mount
	# (a container's namespace may outlive the host's) goes, its journal
	# is live and a copy of the file would need recovery; the loop
	# device (autoclear) is released only then.
	check "volume $3 is detached (unmounted, its loop device released)" wait_for 30 bash -c \
		"! mountpoint -q '$4/mnt' && [ -z \"\$(losetup -j '$4/backing.img')\" ]"
	cp --sparse=always "$4/backing.img" "$5"
	check "delete volume $3" $B delete volume "$3" -t "$1"
	check "the node deletes it: key, backing file, directory" wait_for 60 bash -c "[ ! -e '$4' ]"
}

echo "== a key per tenant: deleting beta's last volume crypto-erases beta, not acme"
BMARK="bulwark-beta-marker-$P"
# beta_app VOLUME WORKLOAD FIRST > FILE: beta's 32 MiB VOLUME and a
# one-replica WORKLOAD using it at /data, running shell FIRST, then
# waiting for TERM
beta_app() {
	cat <<EOF
[{"kind": "Volume", "metadata": {"name": "$1", "tenant": "beta"}, "spec": {"size_bytes": 33554432}},
 {"kind": "Workload", "metadata": {"name": "$2", "tenant": "beta"},
  "spec": {"type": "container", "image": "$DIGEST", "replicas": 1,
           "resources": {"cpu_millis": 100, "memory_mib": 16},
           "volumes": [{"volume": "$1", "path": "/data"}],
           "command": ["sh", "-c", "$3trap 'exit 0' TERM; while :; do sleep 1; done"]}}]
EOF
}
beta_app bdb bapp "echo $BMARK >/data/b.txt; " >"$T/beta.json"
check "apply a beta volume and a workload using it" $B apply -f "$T/beta.json"
check "bapp-0 Running" wait_for 60 inst_is beta bapp-0 '.status.phase == "Running"'
BVUID=$($B get volume bdb -t beta -o json | jq -r .metadata.uid)
BV="$NS/volumes/$BVUID"
check "beta's marker is in its volume" wait_for 20 grep -q "$BMARK" "$BV/mnt/data/b.txt"
TK="$NS/volumes/tenants"
check "each tenant has a wrapped key of its own (64 bytes, BWT1)" bash -c \
	"for t in acme beta; do [ \$(stat -c %s $TK/\$t.key) = 64 ] && [ \$(head -c4 $TK/\$t.key) = BWT1 ] || exit 1; done"
check_fails "the two tenant keys differ" cmp -s "$TK/acme.key" "$TK/beta.key"
check "both volumes' keys are wrapped under their tenant's (BWV2)" bash -c \
	"[ \$(head -c4 '$V/key.wrapped') = BWV2 ] && [ \$(head -c4 '$BV/key.wrapped') = BWV2 ]"
cp "$TK/acme.key" "$T/acme.key.saved"
delete_saving beta bapp bdb "$BV" "$T/bsaved.img"
check "and wipes beta's tenant key (its last volume here)" bash -c "[ ! -e '$TK/beta.key' ]"
check "acme's tenant key stays as it was" cmp -s "$TK/acme.key" "$T/acme.key.saved"
head -c 64 /dev/urandom >"$TK/ghost.key"
check "a tenant key no volume here needs is swept" wait_for 30 bash -c "[ ! -e '$TK/ghost.key' ]"
mkdir -p "$T/m"
check "the saved copy of beta's volume mounts (ext4 metadata)" mount -o loop,ro "$T/bsaved.img" "$T/m"
check "its data directory holds one file under an encrypted name" bash -c \
	"[ \$(ls '$T/m/data' | grep -c .) = 1 ] && ! ls '$T/m/data' | grep -q b.txt"
check_fails "which cannot be read" bash -c "cat '$T/m/data'/* >/dev/null 2>&1"
umount "$T/m"
check_fails "the saved copy holds no marker" grep -aq "$BMARK" "$T/bsaved.img"
uid=$(inst acme app-0 | jq -r .status.runtime_id)
pid=$(crun --root "$RUN/crun" state "bw-$uid" | jq -r .pid)
check "acme's volume still works: app-0 writes and reads it" nsenter -t "$pid" -U -m /bin/busybox sh -c \
	"echo still >/data/still.txt && /bin/busybox grep -q still /data/still.txt && rm /data/still.txt && /bin/busybox grep -q '$MARK' /data/secret.txt"

echo "== snapshot, overwrite, restore"
echo '{"kind": "VolumeSnapshot", "metadata": {"name": "s1", "tenant": "acme"}, "spec": {"volume": "db"}}' |
	$B apply -f - >/dev/null || fail "create snapshot s1 of db"
check "s1 is taken on n1 while app-0 runs (the file system frozen meanwhile)" wait_for 30 bash -c \
	"$B get volumesnapshot s1 -t acme -o json | jq -e '.spec.node == \"n1\" and .status.phase == \"Ready\" and .status.size_bytes == 67108864' >/dev/null"
$B get volumesnapshot s1 -t acme -o json | jq -c '{spec, status}'
S1=$($B get volumesnapshot s1 -t acme -o json | jq -r .metadata.uid)
check "it is a file beside the volume" [ -f "$V/snapshots/$S1.img" ]
check_fails "holding no plaintext" grep -aq "$MARK" "$V/snapshots/$S1.img"
uid=$(inst acme app-0 | jq -r .status.runtime_id)
pid=$(crun --root "$RUN/crun" state "bw-$uid" | jq -r .pid)
check "app-0 overwrites secret.txt" nsenter -t "$pid" -U -m /bin/busybox sh -c "echo overwritten >/data/secret.txt"
check "the volume holds the new content" grep -q overwritten "$V/mnt/data/secret.txt"
check "beta's tenant-user cannot snapshot acme's volume (404)" [ "$(bcurl -X PUT -H 'Content-Type: application/json' \
	--data '{"kind":"VolumeSnapshot","metadata":{"name":"x","tenant":"acme"},"spec":{"volume":"db"}}' \
	"$URL/v1/tenants/acme/volumesnapshots/x")" = 404 ]
# A mount namespace holding a copy of the volume's mount: unmounted on
# the host, the file system and its loop device live on, and the agent
# must neither restore into the backing file nor mount a second file
# system over it until they are gone.
hold_mount db "$V/mnt" "the volume's"
LOOP=$(losetup -j "$V/backing.img" | cut -d: -f1)
OLD=$(inst acme app-0 | jq -r .status.runtime_id)
# what the agent logs from here on (earlier removals log the same words)
logged() { tail -c +$((LOGOFF + 1)) "$T/agent.log" | grep -qF "$1"; }
LOGOFF=$(stat -c %s "$T/agent.log")
app 2 0 | $B apply -f - >/dev/null || fail "scale app to 0"
wait_for 30 bash -c "! mountpoint -q '$V/mnt'" && pass "the volume is unmounted on the host (app-0 removed)" ||
	{ fail "the volume is unmounted on the host (app-0 removed)"; instances acme | jq -c '.[] | {n: .metadata.name, s: .status.phase}'; grep -i 'volume\|snapshot\|removed\|app-0' "$T/agent.log" | tail -8; }
check "the agent waits for the file system to be released ($LOOP)" wait_for 30 logged \
	"instance $OLD: removal failed (retried): waiting for the file system to be released: unmounted here, still alive on $LOOP"
echo '{"kind": "Volume", "metadata": {"name": "db", "tenant": "acme"}, "spec": {"size_bytes": 67108864, "node": "n1", "restore": "s1"}}' |
	$B apply -f - >/dev/null || fail "ask for s1 to be restored"
app 2 1 | $B apply -f - >/dev/null || fail "scale app to 1"
check "the new app-0 waits for it too, saying so" wait_for 60 inst_is acme app-0 \
	'.status.phase != "Running" and (.status.message | test("volume db: waiting for instance [0-9a-f-]+, being removed, to detach it"))'
inst acme app-0 | jq -c .status
check "s1 is not restored meanwhile, nothing mounted on the host" bash -c \
	"[ ! -e '$V/restored' ] && ! mountpoint -q '$V/mnt'"
check "one loop device holds the backing file: the old one ($LOOP)" bash -c \
	"[ -n '$LOOP' ] && [ \"\$(losetup -j '$V/backing.img' | cut -d: -f1)\" = '$LOOP' ]"
release_mount db
# The agent may bind a new loop device (perhaps of the same number)
# within milliseconds of the old one's release: what shows the release
# is the old instance's removal completing.
check "the namespace gone, the old app-0's removal completes" wait_for 30 logged \
	"instance $OLD (acme/app-0) removed"
wait_for 60 inst_is acme app-0 '.status.phase == "Running"' && pass "app-0 Running again" ||
	{ fail "app-0 Running again"; inst acme app-0 | jq -c .status; grep -i 'volume\|snapshot' "$T/agent.log" | tail -5; }
check "one loop device holds the backing file: the new mount's" bash -c \
	"[ \$(losetup -j '$V/backing.img' | grep -c .) = 1 ]"
check "the old content is back" wait_for 20 grep -q "$MARK" "$V/mnt/data/secret.txt"
check "the restore is recorded" [ "$(cat "$V/restored")" = "$S1" ]
check "and audited: the start's status event names it" bash -c \
	"$BW/bulwark --config $AUDITOR audit search --action instance.status --object app-0 -o json | jq -e '[.items[] | select(.reason == \"started; volume db attached, restored from snapshot s1\")] | length == 1' >/dev/null"
check "the snapshot is audited" bash -c \
	"$BW/bulwark --config $AUDITOR audit search --action volumesnapshot.status -o json | jq -e '[.items[] | select(.object.name == \"s1\")] | length >= 1' >/dev/null"

echo "== a removal retried after its volume's detach leaves the volume alone"
# A record whose volume is detached and whose network detach fails (a
# tenant name cni_detach refuses): retried every pass. The replacement
# app-0 attaches the volume meanwhile; the retries must not detach it.
app 2 0 | $B apply -f - >/dev/null || fail "scale app to 0"
check "app-0 removed: the volume detached and released" wait_for 60 bash -c \
	"! mountpoint -q '$V/mnt' && [ -z \"\$(losetup -j '$V/backing.img')\" ]"
GHOST=00000000-0000-4000-8000-0000000000f1
# written beside and renamed into place: the agent lists and reads
# that directory meanwhile (a name not ending in .json is not listed)
printf '{"tenant":"acme","name":"ghost","volume_uid":"%s","net_tenant":"NO/SUCH","subnet":"10.9.9.0/24"}' \
	"$VUID" >"$NS/workloads/.$GHOST.tmp" && mv "$NS/workloads/.$GHOST.tmp" "$NS/workloads/$GHOST.json"
app 2 1 | $B apply -f - >/dev/null || fail "scale app to 1"
wait_for 60 inst_is acme app-0 '.status.phase == "Running"' && pass "app-0 Running beside the retried removal" ||
	{ fail "app-0 Running beside the retried removal"; inst acme app-0 | jq -c .status; grep "$GHOST" "$T/agent.log" | tail -3; }
off=$(stat -c %s "$T/agent.log")
check "the removal is retried twice more after app-0 started" wait_for 30 bash -c \
	"[ \$(tail -c +$((off + 1)) '$T/agent.log' | grep -c 'instance $GHOST: removal failed') -ge 2 ]"
check "the record no longer holds the volume" bash -c "! grep -q volume_uid '$NS/workloads/$GHOST.json'"
uid=$(inst acme app-0 | jq -r .status.runtime_id)
pid=$(crun --root "$RUN/crun" state "bw-$uid" | jq -r .pid)
check "the volume stays mounted on the host" mountpoint -q "$V/mnt"
check "and app-0 reads and writes it" nsenter -t "$pid" -U -m /bin/busybox sh -c \
	"echo still >/data/still.txt && /bin/busybox grep -q still /data/still.txt && rm /data/still.txt && /bin/busybox grep -q '$MARK' /data/secret.txt"
rm -f "$NS/workloads/$GHOST.json"

echo "== a record that cannot be read holds every volume"
# It may name any volume (or network attachment): attaches wait, the
# tenant's bridge stays, and its removal keeps it until an operator has
# repaired it.
# Written while app-0, acme's last instance here, runs: it may be
# acme's too, so app-0's removal keeps acme's bridge.
BAD=00000000-0000-4000-8000-0000000000f2
LOGOFF=$(stat -c %s "$T/agent.log")
printf '{"tenant":' >"$NS/workloads/.$BAD.tmp" && mv "$NS/workloads/.$BAD.tmp" "$NS/workloads/$BAD.json"
app 2 0 | $B apply -f - >/dev/null || fail "scale app to 0"
check "app-0 removed: the volume detached" wait_for 60 bash -c "! mountpoint -q '$V/mnt'"
check "acme's bridge kept, saying why" wait_for 30 logged \
	"tenant acme: its bridge kept: stored data corrupt"
check "acme's bridge is still there" bash -c "ip -o link show type bridge | grep -q ."
app 2 1 | $B apply -f - >/dev/null || fail "scale app to 1"
check "the new app-0 waits, naming no other instance" wait_for 60 inst_is acme app-0 \
	'.status.phase != "Running" and (.status.message | test("volume db: an instance record on this node cannot be read: stored data corrupt")) and (.status.message | contains("'"$BAD"'") | not)'
check "the agent's log names the record" wait_for 30 logged \
	"volume acme/db: waits for the record of instance $BAD, which cannot be read: stored data corrupt"
check "the volume stays detached" bash -c "! mountpoint -q '$V/mnt'"
check "the record's removal keeps it, saying so" wait_for 30 logged \
	"instance $BAD: removal failed (retried): its record $NS/workloads/$BAD.json cannot be read (stored data corrupt): kept for an operator"
check "the record is still there" [ -e "$NS/workloads/$BAD.json" ]
# retried every pass (a second), said once per 5 minutes
sleep 3
check "the removal said so once" bash -c "[ \$(tail -c +$((LOGOFF + 1)) '$T/agent.log' | grep -c 'instance $BAD: removal failed') = 1 ]"
# The operator repairs it (docs/storage.md): a valid record of what the
# instance holds (nothing mounted for it; acme's network), and the
# agent finishes the removal itself.
SUBNET=$(jq -r .acme "$NS/subnets.json")
printf '{"tenant":"acme","name":"bad","net_tenant":"acme","subnet":"%s"}' "$SUBNET" \
	>"$NS/workloads/.$BAD.tmp" && mv "$NS/workloads/.$BAD.tmp" "$NS/workloads/$BAD.json"
check "the repaired record's removal finishes" wait_for 30 logged \
	"instance $BAD (acme/bad) removed"
check "and takes the record" bash -c "[ ! -e '$NS/workloads/$BAD.json' ]"
wait_for 120 inst_is acme app-0 '.status.phase == "Running"' && pass "the record repaired, app-0 Running" ||
	{ fail "the record repaired, app-0 Running"; inst acme app-0 | jq -c .status; }
check "the volume mounted again" mountpoint -q "$V/mnt"
# A FIFO where a record goes is not a record: no pass waits on it.
FIFO=00000000-0000-4000-8000-0000000000f3
LOGOFF=$(stat -c %s "$T/agent.log")
mkfifo "$NS/workloads/$FIFO.json"
check "a FIFO for a record blocks no pass: its removal says it cannot be read" wait_for 30 logged \
	"instance $FIFO: removal failed (retried): its record $NS/workloads/$FIFO.json cannot be read ("
# (an agent blocked opening it would be let go by a writer)
exec {F}<>"$NS/workloads/$FIFO.json"; exec {F}>&-
rm -f "$NS/workloads/$FIFO.json"

echo "== delete: the key first, then the data"
cp "$NS/volumes/kek.sealed" "$T/kek.saved"
delete_saving acme app db "$V" "$T/saved.img"
check "the node's volume key stays (sealed)" cmp -s "$NS/volumes/kek.sealed" "$T/kek.saved"
check "acme's tenant key is wiped with its last volume" bash -c "[ ! -e '$TK/acme.key' ]"
mkdir -p "$T/m"
check "the saved copy still mounts (ext4 metadata is not encrypted)" mount -o loop,ro "$T/saved.img" "$T/m"
ls "$T/m/data"
check "its data directory holds two files under encrypted names" bash -c \
	"[ \$(ls '$T/m/data' | grep -c .) = 2 ] && ! ls '$T/m/data' | grep -qE 'secret|boots'"
check_fails "which cannot be read without the key" bash -c "cat '$T/m/data'/* >/dev/null 2>&1"
check_fails "and no wrapped key of the volume is left on the node" bash -c \
	"ls '$NS/volumes' | grep -q '$VUID'"
umount "$T/m"
check_fails "the saved copy holds no marker either" grep -aq "$MARK" "$T/saved.img"
echo "== a volume due for deletion whose file system lives on waits, saying so"
beta_app gdb gapp "" >"$T/gc.json"
check "apply volume gdb and workload gapp" $B apply -f "$T/gc.json"
check "gapp-0 Running" wait_for 60 inst_is beta gapp-0 '.status.phase == "Running"'
GV="$NS/volumes/$($B get volume gdb -t beta -o json | jq -r .metadata.uid)"
hold_mount gdb "$GV/mnt" "gdb's"
LOGOFF=$(stat -c %s "$T/agent.log")
check "delete beta's workload gapp" $B delete workload gapp -t beta
check "gdb is unmounted on the host" wait_for 30 bash -c "! mountpoint -q '$GV/mnt'"
check "delete volume gdb" $B delete volume gdb -t beta
check "the GC says gdb waits for its file system" wait_for 60 logged \
	"volume ${GV##*/}: not deleted for now: waiting for the file system to be released: unmounted here, still alive on"
check "gdb is kept meanwhile" [ -e "$GV/key.wrapped" ]
release_mount gdb
check "released, gdb is deleted" wait_for 60 bash -c "[ ! -e '$GV' ]"
kill -0 "$AGENT_PID" || fail "agent died"
finish

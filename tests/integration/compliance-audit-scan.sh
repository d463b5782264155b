#!/bin/bash
# The scan verifies the audit trail from where the previous scan's
# verification stopped (the mark committed with its record, read back
# after a restart): a record changed after the mark, or the record at
# the mark, fails the scan; one changed before it is left to the full
# walk (bulwark audit verify), which finds it. The walk trusts the key
# bulwarkd holds, not the trail's key file, and must reach the last
# durable record (a removed segment fails). Tenant isolation and
# audit retention are measured, not reported unknown.
. "$(dirname "$0")/lib.sh" || exit 99

start_bulwarkd "$T/d" || exit 1
A=$T/d/audit
J='-H Content-Type:application/json'
scan() {
	acurl -X POST $J --data '{"baseline":"moderate"}' \
		"$URL/v1/compliance/scans" >"$T/scan.json"
}
obs() { # CHECK FACT -> the observation's found value
	jq -r --arg c "$1" --arg s "fact:$2" '.results[] | select(.check == $c) |
		.observations[] | select(.subject == $s) | .found' "$T/scan.json" | head -1
}
like() { # WHAT VALUE PATTERN
	case "$2" in
	$3) pass "$1: $2" ;;
	*) fail "$1: '$2' does not match '$3'" ;;
	esac
}
mark() { # the seq the newest scan record verified through
	acurl "$URL/v1/compliance/results" | jq -r .audit_verified.seq
}
# flip SEQ: toggles the case of the first letter of record SEQ's actor
# (in place, the file's length and padding kept); twice restores it.
flip() {
	local seg
	seg=$(grep -la "^v=1 seq=$1 " "$A"/seg-*.log | head -1)
	[ -n "$seg" ] || { fail "no segment holds seq $1"; return 1; }
	python3 - "$seg" "$1" <<'EOF'
import sys
path, seq = sys.argv[1], sys.argv[2].encode()
with open(path, "r+b") as f:
    d = f.read()
    i = d.find(b"\nv=1 seq=" + seq + b" ")
    j = d.index(b" actor=", i) + 7
    f.seek(j)
    f.write(bytes([d[j] ^ 0x20]))
EOF
}
durable() { # SEQ: wait until the trail holds record SEQ
	wait_for 10 sh -c "grep -qa '^v=1 seq=$1 ' '$A'/seg-*.log"
}

scan
like "first scan walks the whole trail" "$(obs au-protection audit_chain_intact)" \
	"yes (seq 1..* verified (whole trail))"
m1=$(mark)
check "the scan record carries the mark" test "$m1" -gt 1

# Two tenants with principals: objects to isolate (with the system
# tenant's, three tenants).
for t in acme globex; do
	acurl -o /dev/null -X POST $J --data "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$t\"}}" \
		"$URL/v1/tenants"
	"$BW/bulwark" --config "$CONF" principal create "admin-$t" -t "$t" \
		--role tenant-admin --days 30 --out "$T/p" >/dev/null
done
scan
like "second scan resumes after the mark" "$(obs au-protection audit_chain_intact)" \
	"yes (seq $((m1 + 1))..* verified, chained from the record verified before (seq $m1, *"
like "tenant isolation is probed on the stored objects" \
	"$(obs ac-tenant-isolation tenant_isolation)" \
	"yes (3 tenants, * objects: * decisions about another tenant's objects and collections all refused; 0 of * own objects hidden*"
check "ac-tenant-isolation satisfied" test "$(jq -r '.results[] |
	select(.check == "ac-tenant-isolation") | .verdict' "$T/scan.json")" = satisfied
like "retention: the configured limit" "$(obs au-retention audit_retention_days)" \
	"0: segments are not pruned by age"
like "retention: the oldest record measured" "$(obs au-retention audit_oldest_age_s)" \
	"oldest record seq 1, 0 days old: nothing pruned"

# After a restart the mark comes from the store.
m2=$(mark)
stop_bulwarkd
start_bulwarkd "$T/d" || exit 1
scan
like "after a restart the scan resumes at the stored mark" \
	"$(obs au-protection audit_chain_intact)" "yes (seq $((m2 + 1))..* chained from * (seq $m2, *"
m3=$(mark)

# A record before the mark changed: not the scan's to find; the full
# walk finds it.
flip 3
scan
like "a change before the mark: the scan still passes" \
	"$(obs au-protection audit_chain_intact)" "yes (*"
check_fails "a change before the mark: bulwark audit verify fails" \
	"$BW/bulwark" audit verify "$A"
flip 3
check "restored: bulwark audit verify passes" "$BW/bulwark" audit verify "$A"
m4=$(mark)

# A record after the mark changed: the scan fails, and keeps failing
# from the same mark until it is restored.
acurl -o /dev/null -X POST $J --data '{"kind":"Tenant","metadata":{"name":"initech"}}' \
	"$URL/v1/tenants"
durable $((m4 + 2))
flip $((m4 + 2))
scan
like "a change after the mark fails the scan" "$(obs au-protection audit_chain_intact)" \
	"no (MODIFIED at seq $((m4 + 2)):*"
check "the failed scan records no mark" test "$(mark)" = null
scan
like "and the next scan too" "$(obs au-protection audit_chain_intact)" \
	"no (MODIFIED at seq $((m4 + 2)):*"
flip $((m4 + 2))
scan
like "restored: the scan resumes from the last good mark" \
	"$(obs au-protection audit_chain_intact)" "yes (seq $((m4 + 1))..* (seq $m4, *"
m5=$(mark)

# The record at the mark changed: the segment was rewritten under it.
flip "$m5"
scan
like "a change under the mark fails the scan" "$(obs au-protection audit_chain_intact)" \
	"no (MODIFIED at seq $m5: * rewritten under the verified checkpoint*"
flip "$m5"

# The trail's key file swapped for another key: the scan checks the
# checkpoints after the mark with the key bulwarkd holds, not the file
# (whoever rewrites records there can swap the file too).
scan
m6=$(mark)
cp "$A/checkpoint-key.pem" "$T/key.keep"
openssl ecparam -name secp384r1 -genkey -noout 2>/dev/null |
	openssl ec -pubout -out "$A/checkpoint-key.pem" 2>/dev/null
acurl -o /dev/null -X POST $J --data '{"kind":"Tenant","metadata":{"name":"umbrella"}}' \
	"$URL/v1/tenants"
checkpointed() { # a signed checkpoint after seq $1 is in the trail
	cat "$A"/seg-*.log | tr -d '\0' | grep -a ' action=audit.checkpoint ' |
		sed -n 's/^v=1 seq=\([0-9]*\) .*/\1/p' | awk -v m="$1" '$1 > m { f = 1 } END { exit !f }'
}
check "a checkpoint after the mark" wait_for 30 checkpointed "$m6"
scan
like "a swapped key file: the scan trusts bulwarkd's key" \
	"$(obs au-protection audit_chain_intact)" "yes (seq $((m6 + 1))..* (seq $m6, *"
cp "$T/key.keep" "$A/checkpoint-key.pem"

# The live segment unlinked: what is left chains, but bulwarkd had made
# later records durable, so the scan finds them missing.
live=$(ls "$A"/seg-*.log | tail -1)
rm -f "$live"
scan
like "the live segment removed fails the scan" \
	"$(obs au-protection audit_chain_intact)" "no (MISSING at seq *"
finish

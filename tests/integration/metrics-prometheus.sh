#!/bin/bash
# Issue 21, Done-means 1: Debian's prometheus scrapes a running bulwarkd
# every second over mutual TLS with the metrics role's client certificate
# (the scrape configuration of docs/operations.md, with the shipped alert
# rules), and its HTTP query API on loopback shows one series of each
# family of /metrics, checked against what the test did: 100 writes, the
# nodes it has (one enrolled and Trusted), a compliance scan, the
# server's and the node's certificates, the workloads and instances it
# made, bulwarkd's own process.
. "$(dirname "$0")/lib.sh" || exit 99
. "$(dirname "$0")/identity-lib.sh" || exit 99
command -v prometheus >/dev/null || { echo "no prometheus (Debian package prometheus)" >&2; exit 77; }
top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/../..}" && pwd)

T_BEFORE=$(date +%s)
start_bulwarkd "$T/d" || exit 1
T_STARTED=$(date +%s)
B="$BW/bulwark --config $CONF"

# The scraper's credential: the metrics role, which reads /metrics only.
$B principal create prom -t system --role metrics --out "$T/prom" >"$T/prom.out" 2>&1 ||
	fail "metrics principal created: $(cat "$T/prom.out")"
pass "metrics principal created"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/prom/ca.crt" \
	--cert "$T/prom/prom.crt" --key "$T/prom/prom.key" "$URL/v1/tenants")
check "the metrics role reads no resource (GET /v1/tenants: $code)" [ "$code" = 403 ]

# A config made from the shipped example: this bulwarkd, every second,
# the shipped rules.
sed -e "s|/etc/prometheus/bulwark/|$T/prom/|" \
	-e "s|^  - .*/bulwark-rules.yml|  - $top_srcdir/appliance/prometheus/bulwark-rules.yml|" \
	-e "s|server_name: .*|server_name: localhost|" \
	-e "s|targets: .*|targets: ['127.0.0.1:$PORT']|" \
	-e "s|scrape_interval: .*|scrape_interval: 1s\n  scrape_timeout: 1s|" \
	-e "s|evaluation_interval: .*|evaluation_interval: 1s|" \
	"${top_builddir:-.}/appliance/prometheus/prometheus.yml" >"$T/prometheus.yml"
check "promtool check config" promtool check config "$T/prometheus.yml"

prom_ready() {
	kill -0 "$PROM_PID" 2>/dev/null &&
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PPORT/-/ready")" = 200 ]
}
# start_prometheus: on a free loopback port (PPORT), storage in $T
start_prometheus() {
	local i
	for i in $(seq 20); do
		PPORT=$((20000 + RANDOM % 40000))
		ss -Htln "( sport = :$PPORT )" | grep -q . && continue
		prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
			--web.listen-address="127.0.0.1:$PPORT" >>"$T/prometheus.log" 2>&1 &
		PROM_PID=$!
		BW_PIDS="$BW_PIDS $PROM_PID"
		wait_for 60 prom_ready && return 0
		kill -TERM "$PROM_PID" 2>/dev/null
		wait "$PROM_PID" 2>/dev/null
	done
	return 1
}
start_prometheus || { fail "prometheus did not start"; tail -20 "$T/prometheus.log" >&2; finish; }

# q PROMQL: the value of the query's first sample (empty without one)
q() {
	curl -s --max-time 5 "http://127.0.0.1:$PPORT/api/v1/query" \
		--data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // ""' 2>/dev/null
}
# cmp_q PROMQL OP VALUE: the query's value compares so with VALUE
# (numerically, awk's OP: == >= <= > <); no sample fails
cmp_q() {
	local v
	v=$(q "$1")
	[ -n "$v" ] && awk -v a="$v" -v b="$3" "BEGIN { exit !(a + 0 $2 b + 0) }"
}
# expect SECONDS PROMQL OP VALUE: polls until cmp_q holds (a scrape after
# what the test did), then passes; fails with the last value otherwise
expect() {
	local s=$1; shift
	if wait_for "$s" cmp_q "$@"; then
		pass "$1 $2 $3 ($(q "$1"))"
	else
		fail "$1 $2 $3 (got '$(q "$1")')"
	fi
}
# scraped_rev REV: Prometheus holds a scrape taken at store revision >= REV
scraped_rev() { cmp_q 'bulwark_store_revision{job="bulwarkd"}' '>=' "$1"; }

expect 60 'up{job="bulwarkd"}' == 1

# What the test does: a tenant acme with 4 workloads (100 writes), a
# tenant beta with a workload of 2 instances no node can hold (Pending),
# a node enrolled and Trusted beside the appliance's own, a scan.
J='-H Content-Type:application/json'
for t in acme beta; do
	echo "{\"kind\":\"Tenant\",\"metadata\":{\"name\":\"$t\"}}" | $B apply -f - >/dev/null ||
		fail "create tenant $t"
done
D='"image":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"'
wl() { # TENANT NAME REPLICAS CPU
	echo "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"$2\",\"tenant\":\"$1\"},\"spec\":{\"type\":\"container\",$D,\"replicas\":$3,\"resources\":{\"cpu_millis\":$4,\"memory_mib\":16}}}"
}
code=$(acurl -o /dev/null -w '%{http_code}' -X PUT $J --data "$(wl beta big 2 30000)" \
	"$URL/v1/tenants/beta/workloads/big")
check "beta's workload of 2 instances that fit no node (got $code)" [ "$code" = 200 -o "$code" = 201 ]
enrol_nodes 60 n1 || fail "n1 enrolled and Trusted"

# the series before the writes, from a scrape after all of the above
rev=$(revision)
wait_for 30 scraped_rev "$rev" || fail "no scrape at revision $rev"
W='sum(bulwark_http_request_duration_seconds_count{job="bulwarkd",route="write"})'
w0=$(q "$W")
m0=$(q 'bulwark_mutations_total{job="bulwarkd"}')
b0=$(q 'sum(bulwark_commit_batch_mutations_sum{job="bulwarkd"})')
a0=$(q 'bulwark_audit_trail_bytes{job="bulwarkd"}')
check "write count before the writes ($w0)" [ -n "$w0" ]

ok=0
for i in $(seq 100); do
	code=$(acurl -o /dev/null -w '%{http_code}' -X PUT $J \
		--data "$(wl acme w$((i % 4)) 0 $((10 + i)))" "$URL/v1/tenants/acme/workloads/w$((i % 4))")
	case "$code" in 2??) ok=$((ok + 1)) ;; esac
done
check "100 writes answered 2xx ($ok)" [ $ok = 100 ]

T_SCAN=$(date +%s)
acurl -X POST $J --data '{"baseline":"moderate"}' "$URL/v1/compliance/scans" >"$T/scan.json"
check "a compliance scan ran" jq -e '.results | length > 0' "$T/scan.json"
rev=$(revision)
wait_for 30 scraped_rev "$rev" || fail "no scrape at revision $rev"

expect 30 "$W" '>=' "$((${w0%.*} + 100))"
expect 30 'bulwark_mutations_total{job="bulwarkd"}' '>=' "$((${m0%.*} + 100))"
expect 5 'bulwark_audit_healthy{job="bulwarkd"}' == 1
expect 5 'bulwark_store_used_bytes{job="bulwarkd"}' '>' 0

# Issue 21's series (the contract of docs/operations.md, "Metric
# families"), one of each family at least.
R='bulwark_http_request_duration_seconds'
expect 5 "sum($R""_count{job=\"bulwarkd\",route=\"write\",code=~\"2..\"})" '>=' "$((${w0%.*} + 100))"
expect 5 "sum($R""_bucket{job=\"bulwarkd\",route=\"write\",le=\"+Inf\"}) - $W" == 0
expect 5 "sum($R""_sum{job=\"bulwarkd\",route=\"write\"})" '>' 0
expect 5 "count($R""_count{job=\"bulwarkd\",route!~\"get|list|write|delete|status|watch|audit|health|metrics|enrol|principal|image|compliance|other\"}) or vector(0)" == 0
expect 5 'sum(bulwark_commit_batch_duration_seconds_count{job="bulwarkd"})' '>' 0
expect 5 'sum(bulwark_commit_batch_mutations_sum{job="bulwarkd"})' '>=' "$((${b0%.*} + 100))"
expect 5 'sum(bulwark_commit_batch_mutations_bucket{job="bulwarkd",le="1024"})' '>' 0
expect 5 'sum(bulwark_store_flush_duration_seconds_count{job="bulwarkd"})' '>' 0
expect 5 'sum(bulwark_audit_fsync_duration_seconds_count{job="bulwarkd"})' '>' 0
expect 5 'sum(bulwark_scheduler_placement_duration_seconds_count{job="bulwarkd"})' '>' 0
expect 5 'sum(bulwark_tpm_operation_duration_seconds_count{job="bulwarkd",op="sign"})' '>' 0
expect 5 'sum(bulwark_tpm_operation_duration_seconds_count{job="bulwarkd",op="verify"})' '>' 0
expect 5 'count(bulwark_tpm_operation_duration_seconds_count{job="bulwarkd",op!~"quote|sign|verify"}) or vector(0)' == 0
# no agent here starts an instance: the family is served, empty
expect 5 'count(bulwark_agent_instance_start_duration_seconds_count{job="bulwarkd"})' '>=' 1

expect 5 'bulwark_store_capacity_bytes{job="bulwarkd"} - bulwark_store_used_bytes{job="bulwarkd"}' '>' 0
expect 5 'bulwark_audit_trail_bytes{job="bulwarkd"}' '>' "${a0:-0}"
expect 5 'bulwark_audit_records_total{job="bulwarkd"}' '>=' 100
# a scrape's count, then the trail's last sequence number: no more
recs=$(q 'bulwark_audit_records_total{job="bulwarkd"}')
last_seq=$(acurl "$URL/healthz" | jq -r .audit.last_seq)
check "bulwark_audit_records_total $recs <= the trail's last sequence number $last_seq" \
	awk -v a="$recs" -v b="$last_seq" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'
read -r fs_avail fs_size < <(df -B1 --output=avail,size "$T/d/audit" | tail -1)
expect 5 'bulwark_audit_filesystem_size_bytes{job="bulwarkd"}' == "$fs_size"
expect 5 'bulwark_audit_filesystem_avail_bytes{job="bulwarkd"}' '>' 0
expect 5 'bulwark_audit_filesystem_avail_bytes{job="bulwarkd"}' '<=' "$fs_size"

# nodes: each phase and attestation as many as the API lists
$B get nodes -o json >"$T/nodes.json"
n=$(jq '.items | length' "$T/nodes.json")
check "the API lists 2 nodes: the appliance's and n1 ($n)" [ "$n" = 2 ]
expect 5 'sum(bulwark_nodes{job="bulwarkd"})' == "$n"
expect 5 'sum(bulwark_nodes{job="bulwarkd",attestation="Trusted"})' == 1
jq -r '.items | group_by([.status.phase, .status.attestation]) | .[] |
	"\(.[0].status.phase) \(.[0].status.attestation // "Unknown") \(length)"' \
	"$T/nodes.json" >"$T/node-groups"
while read -r ph at c; do
	expect 5 "bulwark_nodes{job=\"bulwarkd\",phase=\"$ph\",attestation=\"$at\"}" == "$c"
done <"$T/node-groups"
expect 5 'bulwark_nodes_stale{job="bulwarkd"}' '<=' "$((n - 1))"
# n1's certificate, as its agent holds it (renewed when it became
# Trusted: read again until the agent has written the new one)
not_after() { date -d "$(openssl x509 -noout -enddate -in "$1" | cut -d= -f2)" +%s; }
node_cert_seen() {
	cmp_q 'bulwark_node_cert_expiry_earliest_timestamp_seconds{job="bulwarkd"}' == \
		"$(not_after "$T/state-n1/node.crt")"
}
check "bulwark_node_cert_expiry_earliest_timestamp_seconds is n1's notAfter" wait_for 10 node_cert_seen
sa=$(not_after "$PKI/server.crt")
expect 5 'bulwark_server_cert_expiry_timestamp_seconds{job="bulwarkd"}' == "$sa"

expect 5 'bulwark_workloads{job="bulwarkd",tenant="acme"}' == 4
expect 5 'bulwark_workloads{job="bulwarkd",tenant="beta"}' == 1
pending=$($B get instances -t beta -o json | jq '[.items[] | select(.status.phase == "Pending")] | length')
check "beta's 2 instances are Pending ($pending)" [ "$pending" = 2 ]
expect 5 'sum(bulwark_instances{job="bulwarkd",tenant="beta"})' == 2
expect 5 'bulwark_instances{job="bulwarkd",tenant="beta",phase="Pending"}' == "$pending"

# the scan: when, and its verdicts by family
expect 5 'bulwark_compliance_last_scan_timestamp_seconds{job="bulwarkd"}' '>=' "$T_SCAN"
expect 5 'bulwark_compliance_last_scan_timestamp_seconds{job="bulwarkd"}' '<=' "$(date +%s)"
expect 5 'bulwark_compliance_scan_cadence_seconds{job="bulwarkd"}' == 259200
# the baseline's controls by family and verdict, as the scan's summary
nall=$(jq '[.summary.families[][]] | add' "$T/scan.json")
nsat=$(jq '[.summary.families[].satisfied // 0] | add' "$T/scan.json")
nac=$(jq '.summary.families.ac.satisfied // 0' "$T/scan.json")
check "the scan's summary counts controls ($nall, $nsat satisfied, $nac in ac)" [ "${nall:-0}" -gt 0 ]
expect 5 'sum(bulwark_compliance_checks{job="bulwarkd"})' == "$nall"
expect 5 'sum(bulwark_compliance_checks{job="bulwarkd",verdict="satisfied"})' == "$nsat"
expect 5 'sum(bulwark_compliance_checks{job="bulwarkd",verdict="satisfied",family="ac"}) or vector(0)' == "$nac"
expect 5 'count(bulwark_compliance_checks{job="bulwarkd",family!~"[a-z]+"}) or vector(0)' == 0
expect 5 'count(count by (family) (bulwark_compliance_checks{job="bulwarkd"}))' '>=' 10

# bulwarkd's process
expect 5 'process_start_time_seconds{job="bulwarkd"}' '>=' "$((T_BEFORE - 1))"
expect 5 'process_start_time_seconds{job="bulwarkd"}' '<=' "$((T_STARTED + 1))"
expect 5 'process_cpu_seconds_total{job="bulwarkd"}' '>' 0
expect 5 'process_resident_memory_bytes{job="bulwarkd"}' '>' 1000000
expect 5 'process_virtual_memory_bytes{job="bulwarkd"} - process_resident_memory_bytes{job="bulwarkd"}' '>' 0
expect 5 'process_open_fds{job="bulwarkd"}' '>' 3
expect 5 'process_max_fds{job="bulwarkd"} - process_open_fds{job="bulwarkd"}' '>' 0

# The shipped rules are loaded and evaluate on the real series without
# error; on this healthy appliance none of them is pending or firing
# but those of the local node "vm", which no agent runs.
rules_ok() {
	curl -s "http://127.0.0.1:$PPORT/api/v1/rules" | jq -e '[.data.groups[].rules[]] |
		length >= 10 and all(.health == "ok" and .lastEvaluation > "2000")' >/dev/null
}
check "the shipped rules are loaded and evaluate without error" wait_for 30 rules_ok
active=$(curl -s "http://127.0.0.1:$PPORT/api/v1/alerts" |
	jq -r '[.data.alerts[].labels.alertname] | unique | join(" ")')
for a in BulwarkDown BulwarkAuditUnhealthy BulwarkNodeUntrusted BulwarkStoreNearCapacity \
	BulwarkComplianceScanOverdue BulwarkServerCertificateExpiring BulwarkNodeCertificateExpiring \
	BulwarkAPIErrorRate; do
	case " $active " in
	*" $a "*) fail "$a is active on a healthy appliance" ;;
	*) pass "$a quiet" ;;
	esac
done

kill -TERM "$PROM_PID"
wait "$PROM_PID"
check "prometheus stopped cleanly" [ $? = 0 ]
finish

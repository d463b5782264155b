#!/bin/bash
# /metrics (issue 21): a metrics principal (role metrics) scrapes it; the
# output passes `promtool check metrics`; every family of the contract
# (docs/operations.md) is there and moves with what the test does: 100
# workload writes grow the write route's request count by at least 100,
# the commit batches, the store's flushes, the trail's fdatasyncs and
# records; an enrolled node, a running container, a compliance scan and
# the certificates show in the fleet, TPM, scheduler, agent start,
# compliance and expiry series; process_* describe bulwarkd.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

if ! command -v promtool >/dev/null; then
	echo "metrics: SKIP: promtool missing (Debian package prometheus)"
	exit 77
fi

start_bulwarkd_wl || { fail "bulwarkd did not start"; finish; }
check "a metrics principal is created by the admin" \
	$B principal create prom -t system --role metrics --out "$T/p"
scrape() { # FILE
	curl -gs --max-time 10 --cacert "$PKI/ca.crt" --cert "$T/p/prom.crt" \
		--key "$T/p/prom.key" -o "$1" -w '%{http_code}' "$URL/metrics"
}
# val FILE SAMPLE: the sample's value ('name{labels}' as printed), or 0
val() { awk -v m="$2" '$1 == m { v = $2 } END { print v == "" ? 0 : v }' "$1"; }
# sum FILE PATTERN: the sum of the samples whose name and labels match
sum() { awk -v p="$2" '$1 ~ p { s += $2 } END { print s + 0 }' "$1"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

check "the metrics principal reads /metrics" [ "$(scrape "$T/m0")" = 200 ]
check "promtool check metrics passes" sh -c "promtool check metrics <'$T/m0'"

echo "== 100 writes"
echo '{"kind":"Tenant","metadata":{"name":"acme"}}' | $B apply -f - >/dev/null
# the default quota holds 50 workloads
echo '{"kind":"Quota","metadata":{"name":"q","tenant":"acme"},"spec":{"workloads":200}}' |
	$B apply -f - >/dev/null
scrape "$T/m1" >/dev/null
for i in $(seq 100); do
	acurl -o /dev/null -w '%{http_code}\n' -X PUT -H 'Content-Type: application/json' \
		--data "{\"kind\":\"Workload\",\"metadata\":{\"name\":\"w$i\",\"tenant\":\"acme\"},\"spec\":{\"type\":\"container\",\"image\":\"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae\",\"replicas\":0,\"resources\":{\"cpu_millis\":10,\"memory_mib\":16}}}" \
		"$URL/v1/tenants/acme/workloads/w$i"
done >"$T/codes"
check "100 workloads created" [ "$(grep -c '^201$' "$T/codes")" = 100 ]
scrape "$T/m2" >/dev/null
W='^bulwark_http_request_duration_seconds_count[{]route="write",'
check "the write route's request count grew by >= 100" \
	ge "$(($(sum "$T/m2" "$W") - $(sum "$T/m1" "$W")))" 100
check "201 is its code" ge "$(val "$T/m2" 'bulwark_http_request_duration_seconds_count{route="write",code="201"}')" 100
for h in bulwark_commit_batch_duration_seconds bulwark_commit_batch_mutations \
	bulwark_store_flush_duration_seconds bulwark_audit_fsync_duration_seconds; do
	check "$h counted the writes" ge "$(($(val "$T/m2" "${h}_count") - $(val "$T/m1" "${h}_count")))" 1
done
check "the batches carried >= 100 mutations" ge "$(echo "$(val "$T/m2" bulwark_commit_batch_mutations_sum) - $(val "$T/m1" bulwark_commit_batch_mutations_sum)" | bc)" 100
check "the trail holds >= 100 more records" ge "$(($(val "$T/m2" bulwark_audit_records_total) - $(val "$T/m1" bulwark_audit_records_total)))" 100
check "bulwark_workloads{tenant=\"acme\"} is 100" [ "$(val "$T/m2" 'bulwark_workloads{tenant="acme"}')" = 100 ]
check "the store's used bytes are within its capacity" \
	ge "$(val "$T/m2" bulwark_store_capacity_bytes)" "$(val "$T/m2" bulwark_store_used_bytes)"
check "the trail's files hold bytes" ge "$(val "$T/m2" bulwark_audit_trail_bytes)" 1
check "its filesystem has a size" ge "$(val "$T/m2" bulwark_audit_filesystem_size_bytes)" "$(val "$T/m2" bulwark_audit_filesystem_avail_bytes)"

echo "== a node, a container, a scan"
enrol_node || { fail "node n1 enrols with its TPM and is approved"; finish; }
import_busybox || { fail "a signed busybox image is imported"; finish; }
jq -n --arg d "$DIGEST" '{kind: "Workload", metadata: {name: "web", tenant: "acme"},
	spec: {type: "container", image: $d, replicas: 1, resources: {cpu_millis: 100, memory_mib: 16},
	command: ["sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 1; done"]}}' >"$T/web.json"
check "apply a container workload" $B apply -f "$T/web.json"
wait_for 60 bash -c "[ \"\$(n_running acme web)\" = 1 ]" || fail "its instance runs"
code=$(acurl -o "$T/scan.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	-d '{"baseline":"moderate"}' "$URL/v1/compliance/scans")
check "a compliance scan is recorded" [ "$code" = 201 ]
have_start() { scrape "$T/m3" >/dev/null && ge "$(val "$T/m3" bulwark_agent_instance_start_duration_seconds_count)" 1; }
check "the agent's instance start was counted" wait_for 20 have_start
now=$(date +%s)
check "n1 counts as Ready and Trusted" [ "$(val "$T/m3" 'bulwark_nodes{phase="Ready",attestation="Trusted"}')" = 1 ]
check "no node is stale" [ "$(val "$T/m3" bulwark_nodes_stale)" = 0 ]
check "the instance counts as Running in acme" [ "$(val "$T/m3" 'bulwark_instances{phase="Running",tenant="acme"}')" = 1 ]
check "the scheduler placed it" ge "$(val "$T/m3" bulwark_scheduler_placement_duration_seconds_count)" 1
check "quotes were verified" ge "$(val "$T/m3" 'bulwark_tpm_operation_duration_seconds_count{op="verify"}')" 1
check "the TPM signed" ge "$(val "$T/m3" 'bulwark_tpm_operation_duration_seconds_count{op="sign"}')" 1
q0=$(val "$T/m3" 'bulwark_tpm_operation_duration_seconds_count{op="quote"}')
check "an evidence bundle is exported" $BW/bulwark --config "$AUDITOR" evidence export \
	--since 2000-01-01 -o "$T/bundle.tar"
scrape "$T/m3q" >/dev/null
check "its TPM quote was counted (quote count $q0 -> $(val "$T/m3q" 'bulwark_tpm_operation_duration_seconds_count{op="quote"}'))" \
	ge "$(val "$T/m3q" 'bulwark_tpm_operation_duration_seconds_count{op="quote"}')" "$((q0 + 1))"
check "the node's certificate expires in the future" ge "$(val "$T/m3" bulwark_node_cert_expiry_earliest_timestamp_seconds)" "$now"
check "the server's certificate too" ge "$(val "$T/m3" bulwark_server_cert_expiry_timestamp_seconds)" "$now"
check "the scan's time is now" ge "$(val "$T/m3" bulwark_compliance_last_scan_timestamp_seconds)" "$((now - 120))"
check "the cadence is 3 days" [ "$(val "$T/m3" bulwark_compliance_scan_cadence_seconds)" = 259200 ]
check "its checks are counted by verdict and family" \
	ge "$(sum "$T/m3" '^bulwark_compliance_checks[{]verdict="satisfied",family="[a-z][a-z]"')" 1
check "process_start_time_seconds is recent" ge "$(val "$T/m3" process_start_time_seconds)" "$((now - 600))"
check "process_open_fds is within process_max_fds" ge "$(val "$T/m3" process_max_fds)" "$(val "$T/m3" process_open_fds)"
check "process_resident_memory_bytes is set" ge "$(val "$T/m3" process_resident_memory_bytes)" 1000000
check "promtool check metrics passes with every family filled" sh -c "promtool check metrics <'$T/m3'"

# Every family of the contract, by its # TYPE line.
for f in bulwark_http_request_duration_seconds:histogram \
	bulwark_commit_batch_duration_seconds:histogram bulwark_commit_batch_mutations:histogram \
	bulwark_store_flush_duration_seconds:histogram bulwark_audit_fsync_duration_seconds:histogram \
	bulwark_scheduler_placement_duration_seconds:histogram \
	bulwark_tpm_operation_duration_seconds:histogram \
	bulwark_agent_instance_start_duration_seconds:histogram \
	bulwark_store_used_bytes:gauge bulwark_store_capacity_bytes:gauge \
	bulwark_audit_trail_bytes:gauge bulwark_audit_records_total:counter \
	bulwark_audit_filesystem_avail_bytes:gauge bulwark_audit_filesystem_size_bytes:gauge \
	bulwark_nodes:gauge bulwark_nodes_stale:gauge bulwark_instances:gauge \
	bulwark_workloads:gauge bulwark_compliance_checks:gauge \
	bulwark_compliance_last_scan_timestamp_seconds:gauge \
	bulwark_compliance_scan_cadence_seconds:gauge \
	bulwark_server_cert_expiry_timestamp_seconds:gauge \
	bulwark_node_cert_expiry_earliest_timestamp_seconds:gauge \
	process_cpu_seconds_total:counter process_resident_memory_bytes:gauge \
	process_virtual_memory_bytes:gauge process_open_fds:gauge process_max_fds:gauge \
	process_start_time_seconds:gauge bulwark_audit_healthy:gauge \
	bulwark_http_responses_total:counter; do
	check "family ${f%%:*} (${f#*:})" grep -qx "# TYPE ${f%%:*} ${f#*:}" "$T/m3"
done
check "the op label takes quote, sign and verify only" bash -c \
	"[ \"\$(grep -o '^bulwark_tpm_operation_duration_seconds_count{op=\"[a-z]*\"}' '$T/m3' | sort | tr '\n' ' ')\" = 'bulwark_tpm_operation_duration_seconds_count{op=\"quote\"} bulwark_tpm_operation_duration_seconds_count{op=\"sign\"} bulwark_tpm_operation_duration_seconds_count{op=\"verify\"} ' ]"

echo "== the metrics role reads nothing else"
for p in /v1/nodes /v1/tenants/acme/workloads /v1/whoami /v1/identity /v1/watch \
	/v1/compliance/results /v1/audit/records; do
	code=$(curl -gs -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$PKI/ca.crt" \
		--cert "$T/p/prom.crt" --key "$T/p/prom.key" "$URL$p")
	check "metrics role: GET $p is 403" [ "$code" = 403 ]
done

check "delete the workload" $B delete workload web -t acme
check "its instance is gone" wait_for 30 bash -c "[ \"\$(n_running acme web)\" = 0 ] && [ -z \"\$(crun --root '$RUN/crun' list -q)\" ]"
stop_agent_wl
stop_bulwarkd
echo "== after a restart the last scan is still known"
start_bulwarkd_wl || fail "bulwarkd restarts"
scrape "$T/m4" >/dev/null
check "the last scan's time survives a restart" [ "$(val "$T/m4" bulwark_compliance_last_scan_timestamp_seconds)" = "$(val "$T/m3" bulwark_compliance_last_scan_timestamp_seconds)" ]
check "and its checks by verdict and family" [ "$(grep -c '^bulwark_compliance_checks{' "$T/m4")" = "$(grep -c '^bulwark_compliance_checks{' "$T/m3")" ]
stop_bulwarkd
stop_swtpm "$T/tpm-n1"
check "no sanitizer report from bulwarkd or the agent" sh -c \
	"! grep -q -e 'Sanitizer' -e 'runtime error:' '$D/bulwarkd.log' '$T/agent.log'"
finish

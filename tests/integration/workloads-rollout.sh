#!/bin/bash
# Rolling updates gated on readiness (issue 23, Done-means 3), with real
# crun and busybox httpd behind an HTTP readiness probe: a good update
# with max_surge 1 makes a surge replica first and never leaves fewer
# ready replicas than spec.replicas (polled through the API during the
# update); an update whose new replicas never become ready (a readiness
# probe on a port nothing listens on) is rolled back after its
# progress_deadline_s, the workload's status.rollout says why (the probe),
# the old replicas kept serving throughout, and every step is audited.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

WL_GRACE=2
wl_start
export AUDITOR BW
check "create tenant acme" bash -c "echo '{\"kind\": \"Tenant\", \"metadata\": {\"name\": \"acme\"}, \"spec\": {}}' | $B apply -f - >/dev/null"

# web VERSION READY-PORT: 2 replicas of httpd on 8080, ready when
# READY-PORT answers /index.html; max_surge 1, a 15 s deadline.
web() {
	wl_httpd web 2 8080 '"env": {"VERSION": "'"$1"'"},
	  "probes": {"readiness": {"http": {"port": '"$2"', "path": "/index.html"},
	                           "period_s": 1, "failure_threshold": 1}},
	  "update_strategy": {"max_surge": 1, "progress_deadline_s": 15}'
}
wl() { $B get workload web -t acme -o json; }
wl_is() { wl 2>/dev/null | jq -e "$1" >/dev/null; }
n_ready() { # web replicas Running and ready, of any template
	instances acme | jq '[.[] | select(.spec.workload == "web" and
		.status.phase == "Running" and .status.ready == true)] | length'
}
export -f wl wl_is n_ready
# poll FILE: the ready count every 0.2 s into FILE until poll_stop.
poll() {
	while [ ! -e "$T/poll.stop" ]; do
		n_ready 2>/dev/null || echo ERR
		sleep 0.2
	done >"$1"
}
poll_stop() { touch "$T/poll.stop"; wait "$POLL"; rm -f "$T/poll.stop"; }
audited() { # ACTION JQ-FILTER-ON-ITEMS
	"$BW/bulwark" --config "$AUDITOR" audit search --action "$1" -o json |
		jq -e "[.items[] | select(.object.tenant == \"acme\" and (.object.name | test(\"^web\")))] | $2" >/dev/null
}
export -f audited

echo "== update_strategy is validated"
refused() { wl_refused wl_httpd_us "$@"; }
wl_httpd_us() { wl_httpd "$2" 2 8080 "\"update_strategy\": $1"; }
check "max_unavailable 0 without a surge" refused '{"max_unavailable": 0}' \
	'spec.update_strategy: max_unavailable 0 needs a max_surge of at least 1'
check "max_surge 101" refused '{"max_surge": 101}' 'spec.update_strategy.max_surge: must be an integer 0..100'
check "progress_deadline_s 0" refused '{"progress_deadline_s": 0}' \
	'spec.update_strategy.progress_deadline_s: must be an integer 1..86400'

echo "== the first template: complete, recorded as stable"
web 1 8080 >"$T/v1.json"
check "apply web v1 (2 replicas, max_surge 1)" $B apply -f "$T/v1.json"
check "both replicas Running and ready" wait_for 60 bash -c '[ "$(n_ready)" = 2 ]'
check "status.rollout Complete, status.stable its template" wait_for 20 wl_is \
	'.status.rollout.state == "Complete" and .status.stable.template == .status.rollout.template'
t1=$(wl | jq -r .status.stable.template)
uids1=$(instances acme | jq -r '[.[] | .status.runtime_id] | sort | join(" ")')

echo "== a good update with max_surge 1 never has fewer than 2 ready"
web 2 8080 >"$T/v2.json"
poll "$T/poll-good" & POLL=$!
check "apply web v2 (a new env)" $B apply -f "$T/v2.json"
check "the surge replica web-2 is made" wait_for 30 inst_is acme web-2 '.spec.template != null'
check "the update completes: a new stable template" wait_for 120 wl_is \
	".status.rollout.state == \"Complete\" and .status.stable.template != \"$t1\""
check "web-2 goes once it is over" wait_for 30 bash -c "! inst acme web-2 >/dev/null 2>&1"
poll_stop
t2=$(wl | jq -r .status.stable.template)
echo "ready counts: $(sort -n "$T/poll-good" | uniq -c | tr '\n' ' ')"
check "polled the ready count during the update ($(grep -c . "$T/poll-good") polls)" \
	[ "$(grep -c '^[0-9]' "$T/poll-good")" -ge 10 ]
check "never fewer than 2 ready" bash -c "! grep -v ERR '$T/poll-good' | grep -qx '[01]'"
check "web-0 and web-1 are new instances of the new template" bash -c \
	"instances acme | jq -e '[.[] | select(.spec.template == \"$t2\" and .status.ready == true)] | length == 2' >/dev/null &&
	 [ -z \"\$(comm -12 <(echo '$uids1' | tr ' ' '\n') <(instances acme | jq -r '.[].status.runtime_id' | sort))\" ]"
check "audited: the surge replica" audited instance.create \
	'any(.reason == "surge replica of a rolling update")'
check "audited: the replacements" audited instance.replace \
	"[.[] | select(.reason | test(\"template $t2 replaces $t1\"))] | length == 2"
check "audited: the update's start and completion" bash -c \
	"audited workload.rollout-start 'length >= 1' && audited workload.rollout-complete 'any(.reason | test(\"rollout of template $t2 complete\"))'"

echo "== a bad update (never ready) is rolled back after its deadline"
uids2=$(instances acme | jq -r '[.[] | .status.runtime_id] | sort | join(" ")')
web 3 8089 >"$T/v3.json"
poll "$T/poll-bad" & POLL=$!
check "apply web v3, ready only when :8089 answers (nothing listens)" $B apply -f "$T/v3.json"
check "the surge replica web-2 runs, not ready" wait_for 30 inst_is acme web-2 \
	'.status.phase == "Running" and .status.ready == false'
check "status.rollout Progressing" wl_is '.status.rollout.state == "Progressing"'
check "rolled back within the deadline and a resync" wait_for 60 wl_is \
	'.status.rollout.state == "RolledBack"'
wl | jq -c .status.rollout
check "the spec is the stable one again" wl_is \
	".spec.env.VERSION == \"2\" and .spec.probes.readiness.http.port == 8080 and .status.stable.template == \"$t2\""
check "status.rollout says why, naming the probe and the deadline" wl_is \
	'.status.rollout.reason == "ProgressDeadlineExceeded" and
	 (.status.rollout.message | test("progress_deadline_s 15 s") and test("web-2: .*readiness probe http GET :8089/index.html"))'
check "web-2 goes" wait_for 30 bash -c "! inst acme web-2 >/dev/null 2>&1"
poll_stop
echo "ready counts: $(sort -n "$T/poll-bad" | uniq -c | tr '\n' ' ')"
check "the old replicas stayed ready throughout" bash -c \
	"[ \$(grep -c '^[0-9]' '$T/poll-bad') -ge 10 ] && ! grep -v ERR '$T/poll-bad' | grep -qx '[01]'"
check "and are the same instances" [ "$(instances acme | jq -r '[.[] | .status.runtime_id] | sort | join(" ")')" = "$uids2" ]
for n in web-0 web-1; do
	uid=$(inst acme $n | jq -r .status.runtime_id)
	check "$n serves" bash -c "nsenter --net=/run/netns/bw-$uid curl -sf -m 2 http://127.0.0.1:8080/index.html | grep -q $n"
done
check "audited: the rollback, with the probe" audited workload.rollback \
	'any(.reason | test("rolled back from template [0-9a-f]{16} to '"$t2"'") and test(":8089"))'
sleep 6
check "it stays rolled back (no new update starts)" wl_is \
	".status.rollout.state == \"RolledBack\" and .status.stable.template == \"$t2\""

echo "== clean up"
check "delete web" $B delete workload web -t acme
wl_gone acme
wl_finish

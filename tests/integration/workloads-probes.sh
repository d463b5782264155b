#!/bin/bash
# Health probes end to end (issue 23, Done-means 1, the probe part), with
# real crun and a busybox httpd in the container: spec.probes is
# validated strictly; a readiness probe makes status.ready follow the
# served file (created and removed from the host through
# /proc/PID/root); an HTTP liveness probe that starts failing (its file
# removed) restarts the instance, and the exit and the restart name the
# probe and what it saw, in the status and in the audit trail; a TCP
# liveness probe restarts an instance whose httpd was killed while its
# init stayed up. Probes run in the instance's network namespace, on
# its loopback: httpd listens there only through the instance's netns.
. "$(dirname "$0")/workloads-lib.sh" || exit 99

WL_GRACE=2
wl_start

# web PROBES-JSON [NAME] [PORT]: one replica of busybox httpd with PROBES.
web() { wl_httpd "${2:-web}" 1 "${3:-8080}" "\"probes\": $1"; }
check "create tenant acme" bash -c "echo '{\"kind\": \"Tenant\", \"metadata\": {\"name\": \"acme\"}, \"spec\": {}}' | $B apply -f - >/dev/null"

echo "== spec.probes is validated"
refused() { wl_refused web "$@"; }
check "exec with an empty command" refused '{"liveness": {"exec": {"command": []}}}' \
	'spec.probes.liveness.exec.command: 1..16 arguments, at most 512 bytes in all'
check "exec with an empty argument" refused '{"liveness": {"exec": {"command": [""]}}}' \
	'spec.probes.liveness.exec.command[0]'
check "exec without a command" refused '{"liveness": {"exec": {}}}' 'spec.probes.liveness.exec.command: is required'
check "both http and tcp" refused '{"liveness": {"http": {"port": 80}, "tcp": {"port": 80}}}' \
	'spec.probes.liveness: needs exactly one of http, tcp and exec'
check "neither" refused '{"readiness": {"period_s": 5}}' 'spec.probes.readiness: needs exactly one'
check "port 0" refused '{"liveness": {"tcp": {"port": 0}}}' 'spec.probes.liveness.tcp.port: must be an integer'
check "port missing" refused '{"liveness": {"http": {"path": "/"}}}' 'spec.probes.liveness.http.port'
check "path without /" refused '{"liveness": {"http": {"port": 80, "path": "x"}}}' \
	'spec.probes.liveness.http.path: must start with /'
check "path with a space" refused '{"liveness": {"http": {"port": 80, "path": "/a b"}}}' \
	'spec.probes.liveness.http.path'
check "timeout above the period" refused '{"liveness": {"tcp": {"port": 80}, "period_s": 2, "timeout_s": 3}}' \
	'spec.probes.liveness.timeout_s: must not exceed period_s'
check "period 0" refused '{"liveness": {"tcp": {"port": 80}, "period_s": 0}}' 'spec.probes.liveness.period_s'
check "failure_threshold 101" refused '{"liveness": {"tcp": {"port": 80}, "failure_threshold": 101}}' \
	'spec.probes.liveness.failure_threshold'
check "an unknown probe" refused '{"startup": {"tcp": {"port": 80}}}' 'spec.probes.startup'
check "an unknown field" refused '{"liveness": {"tcp": {"port": 80}, "perod_s": 1}}' 'spec.probes.liveness.perod_s'
check "nothing was created" bash -c "! $B get workload bad -t acme >/dev/null 2>&1"

echo "== readiness follows the probe; liveness restarts with the probe as the reason"
web '{"liveness": {"http": {"port": 8080, "path": "/index.html"}, "initial_delay_s": 1,
               "period_s": 1, "timeout_s": 1, "failure_threshold": 2},
  "readiness": {"http": {"port": 8080, "path": "/ready.html"}, "period_s": 1,
                "failure_threshold": 1}}' >"$T/web.json"
check "apply web with liveness and readiness probes" $B apply -f "$T/web.json"
check "web-0 Running" wait_for 60 inst_is acme web-0 '.status.phase == "Running"'
# Its init's root, as the host sees it.
init_root() {
	local uid pid
	uid=$(inst acme "$1" | jq -r .status.runtime_id)
	pid=$(crun --root "$RUN/crun" state "bw-$uid" | jq -r .pid)
	echo "/proc/$pid/root"
}
root=$(init_root web-0)
check "httpd serves inside the container" wait_for 20 test -f "$root/tmp/www/index.html"
sleep 4
check "not ready without /ready.html (and never was)" inst_is acme web-0 \
	'.status.ready == false and .status.restarts == 0 and .status.last_event == "started"'
rev0=$(revision)
check "write /ready.html in the container" wl_ready_file acme web-0
check "ready once /ready.html is served" wait_for 20 inst_is acme web-0 '.status.ready == true'
check "the transition is the last event" inst_is acme web-0 \
	'.status.last_event == "ready: readiness probe http GET :8080/ready.html passed (HTTP 200)"'
rm -f "$root/tmp/www/ready.html"
check "not ready once it is gone" wait_for 20 inst_is acme web-0 '.status.ready == false'
check "with the probe and what it saw" inst_is acme web-0 \
	'.status.last_event == "not ready: readiness probe http GET :8080/ready.html failed 1 times (HTTP 404)" and .status.restarts == 0'
uid=$(inst acme web-0 | jq -r .status.runtime_id)
rm -f "$root/tmp/www/index.html"
check "the failing liveness probe restarts web-0" wait_for 30 inst_is acme web-0 \
	'.status.restarts == 1 and .status.phase == "Running"'
inst acme web-0 | jq -c '.status | del(.log_tail, .scheduling)'
check "same instance, restarted in place" inst_is acme web-0 ".status.runtime_id == \"$uid\""
check "the restart names the probe and what it saw" inst_is acme web-0 \
	'.status.last_event == "restarted after liveness probe http GET :8080/index.html failed 2 times (HTTP 404)"'
check "not ready after the restart (a new run, no /ready.html)" inst_is acme web-0 '.status.ready == false'
timeout 3 $B watch instances --since "$rev0" -o json >"$T/watch.out" 2>/dev/null
jq -r 'select(.name == "web-0") | "\(.revision) \(.object.status.ready) \(.object.status.last_event)"' \
	"$T/watch.out" | uniq -f1 >"$T/ev.txt"
cat "$T/ev.txt"
check "the exit was reported with the probe" grep -q \
	' ended: liveness probe http GET :8080/index.html failed 2 times (HTTP 404); restart 1 in 1 s$' "$T/ev.txt"
check "the restart was reported with the probe" grep -q \
	' restarted after liveness probe http GET :8080/index.html failed 2 times (HTTP 404)$' "$T/ev.txt"
"$BW/bulwark" --config "$AUDITOR" audit search --action instance.status \
	--object web-0 -o json >"$T/audit.json"
for ev in "ready: readiness probe" "not ready: readiness probe" "ended: liveness probe" \
	"restarted after liveness probe"; do
	check "audited by n1: $ev" bash -c "jq -e '[.items[] | select(.actor == \"n1\" and (.reason | startswith(\"$ev\")))] | length >= 1' '$T/audit.json' >/dev/null"
done
root=$(init_root web-0)
check "the new run serves again" wait_for 20 test -f "$root/tmp/www/index.html"
check "write /ready.html in the container" wl_ready_file acme web-0
check "and becomes ready again" wait_for 20 inst_is acme web-0 '.status.ready == true and .status.restarts == 1'

echo "== a TCP liveness probe: httpd killed while the init stays up"
web '{"liveness": {"tcp": {"port": 8081}, "period_s": 1, "failure_threshold": 2}}' tcp 8081 >"$T/tcp.json"
check "apply tcp with a TCP liveness probe" $B apply -f "$T/tcp.json"
check "tcp-0 Running and ready (no readiness probe)" wait_for 60 inst_is acme tcp-0 \
	'.status.phase == "Running" and .status.ready == true'
uid_tcp=$(inst acme tcp-0 | jq -r .status.runtime_id)
sleep 3
check "still not restarted while httpd answers" inst_is acme tcp-0 '.status.restarts == 0'
hpid=$(pgrep -f '^/bin/busybox httpd -f -p 8081')
check "httpd runs on the host as a process of tcp-0 ($hpid)" [ -n "$hpid" ]
kill -9 $hpid
check "tcp-0 is restarted" wait_for 30 inst_is acme tcp-0 '.status.restarts == 1 and .status.phase == "Running"'
timeout 3 $B watch instances --since 1 -o json 2>/dev/null |
	jq -r 'select(.name == "tcp-0") | .object.status.last_event' | uniq >"$T/tcp.ev"
cat "$T/tcp.ev"
check "exit reported as the TCP probe's" grep -q \
	'^ended: liveness probe tcp :8081 failed 2 times (connect: Connection refused); restart 1 in 1 s$' "$T/tcp.ev"

echo "== a rolling update waits for the new replicas' readiness"
roll() { # READY-PATH
	wl_httpd roll 2 8082 '"probes": {"readiness": {"http": {"port": 8082, "path": "'"$1"'"},
	  "period_s": 1, "failure_threshold": 1}}, "update_strategy": {"max_unavailable": 1}'
}
roll /index.html >"$T/roll.json"
check "apply roll (2 replicas, ready when /index.html is served)" $B apply -f "$T/roll.json"
check "both replicas Running and ready" wait_for 60 bash -c \
	"instances acme | jq -e '[.[] | select(.spec.workload == \"roll\" and .status.phase == \"Running\" and .status.ready == true)] | length == 2' >/dev/null"
tmpl_old=$(inst acme roll-0 | jq -r .spec.template)
roll /never.html >"$T/roll2.json"
check "apply a template whose replicas never become ready" $B apply -f "$T/roll2.json"
check "one replica is replaced, Running but not ready" wait_for 60 bash -c \
	"instances acme | jq -e '[.[] | select(.spec.workload == \"roll\" and .spec.template != \"$tmpl_old\" and .status.phase == \"Running\" and .status.ready == false)] | length == 1' >/dev/null"
sleep 8
instances acme | jq -c '.[] | select(.spec.workload == "roll") | {name: .metadata.name, template: .spec.template, phase: .status.phase, ready: .status.ready}'
check "the other keeps the old template, ready (the rollout waits)" bash -c \
	"instances acme | jq -e '[.[] | select(.spec.workload == \"roll\" and .spec.template == \"$tmpl_old\" and .status.ready == true)] | length == 1' >/dev/null"
check "delete roll" $B delete workload roll -t acme

echo "== exec probes: a command run inside the container, with a timeout"
web '{"readiness": {"exec": {"command": ["sh", "-c", "test -f /tmp/www/ready.html"]},
                "period_s": 1, "failure_threshold": 1},
  "liveness": {"exec": {"command": ["sh", "-c", "test ! -f /tmp/hang || sleep 30"]},
               "period_s": 2, "timeout_s": 1, "failure_threshold": 2}}' ex 8083 >"$T/ex.json"
check "apply ex with exec readiness and liveness probes" $B apply -f "$T/ex.json"
check "ex-0 Running, not ready (no /tmp/www/ready.html in the container)" wait_for 60 inst_is acme ex-0 \
	'.status.phase == "Running" and .status.ready == false'
check "write /ready.html in the container" wait_for 20 wl_ready_file acme ex-0
check "ready: the exec probe passed inside the container" wait_for 20 inst_is acme ex-0 \
	'.status.ready == true and .status.last_event == "ready: readiness probe exec sh -c test -f /tmp/www/ready.html passed (exit 0)"'
wl_ready_file acme ex-0 "rm -f "
check "not ready once the file is gone, with the exit code" wait_for 20 inst_is acme ex-0 \
	'.status.ready == false and (.status.last_event | startswith("not ready: readiness probe exec sh -c test -f /tmp/www/ready.html failed 1 times (exit 1)"))'
check "alive while the liveness command exits 0" inst_is acme ex-0 '.status.restarts == 0'
uid_ex=$(inst acme ex-0 | jq -r .status.runtime_id)
pid=$(crun --root "$RUN/crun" state "bw-$uid_ex" | jq -r .pid)
nsenter -t "$pid" -U -m /bin/busybox touch /tmp/hang
check "a liveness command past its timeout restarts ex-0" wait_for 30 inst_is acme ex-0 \
	'.status.restarts == 1 and .status.phase == "Running"'
timeout 3 $B watch instances --since 1 -o json 2>/dev/null |
	jq -r 'select(.name == "ex-0") | .object.status.last_event' | uniq >"$T/ex.ev"
cat "$T/ex.ev"
check "the restart names the exec probe and its timeout" grep -q \
	'^restarted after liveness probe exec sh -c test ! -f /tmp/hang || sleep 30 failed 2 times (timed out after 1 s)$' "$T/ex.ev"
# crun runs the command in a session of its own: unless the probe kills
# it and reaps it, a zombie keeps the container's PID namespace alive.
check "the stop after the probe ended the container" bash -c "! grep -q 'did not exit after SIGKILL' '$T/agent.log'"
# Its record nests an exec probe's command 5 deep (record { probes {
# liveness { exec { command [ ): it must read back, or the removal
# keeps it "for an operator" and every volume attach on the node fails.
uid_ex=$(inst acme ex-0 | jq -r .status.runtime_id)
check "ex-0's record holds its exec probes" jq -e \
	'.probes.liveness.exec.command[0] == "sh"' "$NS/workloads/$uid_ex.json"
check "delete ex" $B delete workload ex -t acme
check "its removal took ex-0's record" wait_for 30 \
	bash -c "[ ! -e '$NS/workloads/$uid_ex.json' ]"
check "no instance record read as unreadable" bash -c \
	"! grep -q 'stored data corrupt\\|kept for an operator' '$T/agent.log'"

echo "== clean up"
check "delete web" $B delete workload web -t acme
check "delete tcp" $B delete workload tcp -t acme
wl_gone acme
check "no netns left" wait_for 10 bash -c "[ ! -e /run/netns/bw-$uid ] && [ ! -e /run/netns/bw-$uid_tcp ]"
# A probe run is a fork of the agent (its helpers, nft and crun, are
# not); a shim ending meanwhile is one too until the agent reaps it.
check "no probe child of the agent left" wait_for 10 bash -c \
	"! ps -o pid=,args= --ppid $AGENT_PID | grep -q bulwark-agent"
ps -o pid=,args= --ppid "$AGENT_PID" | grep bulwark-agent
wl_finish

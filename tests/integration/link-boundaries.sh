#!/bin/bash
# The CLI (bulwark), the node agent (bulwark-agent) and the console
# (bulwark-console) link no object of
# the daemon's commit pipeline (controlplane/commit.c, outbox.c), its
# audit writer (audit/trail.c) or its API server (controlplane/api.c):
# a program links only its own parts and those below it
# (docs/architecture.md). Checked on the symbol tables, so an archive
# member pulled in through any call chain is caught.
. "$(dirname "$0")/lib.sh" || exit 99

# Symbol prefixes each of those objects defines (nm -g on their .o):
#   commit.c  commit_        outbox.c  outbox_
#   trail.c   audit_trail_   api.c     api_server_ api_reply_ api_audit
#             api_read_json_body api_committer
forbidden='^(commit_|outbox_|audit_trail_|api_server_|api_reply_|api_audit$|api_read_json_body$|api_committer$)'

command -v nm >/dev/null || { echo "SKIP: no nm"; exit 77; }
for n in bulwark bulwark-agent bulwark-console; do
	b="$BW/$n"
	[ -x "$b" ] || { fail "$n is not built"; continue; }
	syms=$(nm "$b" | awk '$2 ~ /^[TtDdBbRr]$/ { print $3 }')
	[ -n "$syms" ] || { fail "$n has no symbol table (stripped?)"; continue; }
	# a function every program does link, so the check is not vacuous
	echo "$syms" | grep -qx 'log_msg\|main' || fail "$n: symbol table unreadable"
	bad=$(echo "$syms" | grep -E "$forbidden" | sort -u)
	if [ -n "$bad" ]; then
		fail "$n links daemon-only objects: $(echo $bad | cut -c1-400)"
	else
		pass "$n links no commit pipeline, audit writer or API server"
	fi
done
# The daemon itself does link them: the pattern matches real symbols.
b="$BW/bulwarkd"
if [ -x "$b" ]; then
	check "bulwarkd defines the checked symbols (the pattern is live)" \
		sh -c "nm '$b' | awk '{print \$3}' | grep -Eq '^commit_' &&
		       nm '$b' | awk '{print \$3}' | grep -Eq '^audit_trail_' &&
		       nm '$b' | awk '{print \$3}' | grep -Eq '^api_server_' &&
		       nm '$b' | awk '{print \$3}' | grep -Eq '^outbox_'"
fi
finish

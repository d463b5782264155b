#!/bin/sh
# The man pages cover what the binaries accept (issue 14, done-means 3):
# bulwark(1)'s SYNOPSIS is the one `bulwark --help-man` makes from the
# CLI's command table, its COMMANDS section describes every command, and
# every option that bulwark, bulwarkd, bulwark-agent, bulwark-verify or
# bulwark-harden (and bulwark-console, bulwark-collect) lists in its --help (made from each one's option table) is in its page;
# bulwark-update (a script of appliance/update) describes every command
# its --help lists under COMMANDS and every option it lists under OPTIONS,
# and its --help (a hand-written text) lists the options its parser takes
# and the commands it dispatches, and no others; bulwark-install's page
# has an entry for each of its options and each answer key with its
# default, as docs/install.md's answer-file table does.
. "${top_srcdir:-.}/tests/integration/lib.sh" || exit 99
MAN="$top_srcdir/man"

# section PAGE NAME: the lines of section NAME of PAGE, heading included.
section() {
	awk -v want=".SH $2" '
		/^\.SH / { on = ($0 == want) }
		on { print }' "$1"
}

# section_tags PAGE NAME: the tag of each .TP entry of section NAME of
# PAGE, fonts and quotes removed, one a line.
section_tags() {
	section "$1" "$2" | awk 'tp { print; tp = 0 } /^\.TP/ { tp = 1 }' |
		sed -e 's/^\.[A-Z]* *//' -e 's/\\f[BIRP]//g' -e 's/"//g' -e 's/\\-/-/g'
}

# long_options BINARY: the --long options its --help lists, one a line.
long_options() {
	"$1" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

# missing_options PATH PAGE: the options the program PATH lists that PAGE lacks.
missing_options() {
	local opt
	for opt in $(long_options "$1"); do
		grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$2" ||
			printf ' %s' "$opt"
	done
}

# missing_entries PATH PAGE: the options the program PATH lists that
# PAGE's OPTIONS section has no .TP entry for (the first word of a tag).
missing_entries() {
	local opt
	section_tags "$2" OPTIONS | awk '{ print $1 }' >"$T/option.tags"
	for opt in $(long_options "$1"); do
		grep -qxF -- "$opt" "$T/option.tags" || printf ' %s' "$opt"
	done
}

# check_options BINARY PAGE [PATH]: every option BINARY (the program
# PATH, by default the build's) lists is in PAGE.
check_options() {
	local bin="$1" page="$2" path="${3:-$BW/$1}" n missing
	"$path" --help >/dev/null 2>&1 || fail "$bin --help exits 0"
	n=$(long_options "$path" | wc -l)
	check "$bin --help lists options ($n)" [ "$n" -gt 1 ]
	missing=$(missing_options "$path" "$page")
	check "$(basename "$page") names every option $bin accepts${missing:+ (missing:$missing)}" \
		[ -z "$missing" ]
}

# 1. bulwark(1): SYNOPSIS generated from the command table
"$BW/bulwark" --help-man >"$T/synopsis" ||
	fail "bulwark --help-man exits 0"
section "$MAN/bulwark.1" SYNOPSIS >"$T/synopsis.page"
check "bulwark --help-man makes a synopsis" grep -q 'bulwark.*get' "$T/synopsis"
if diff -u "$T/synopsis.page" "$T/synopsis" >"$T/synopsis.diff"; then
	pass "bulwark(1) SYNOPSIS is what bulwark --help-man prints"
else
	cat "$T/synopsis.diff" >&2
	fail "bulwark(1) SYNOPSIS is what bulwark --help-man prints (update it with: bulwark --help-man)"
fi

# 2. every command the table has is described under COMMANDS: a .TP
# entry whose tag starts with the command's name
section_tags "$MAN/bulwark.1" COMMANDS >"$T/tags"
sed -e 's/.*OPTIONS\\fR\] //' "$T/synopsis" | grep -v '^\.' |
	grep -oE '^(\\fB[a-z]+\\fR ?)+' | sed -e 's/\\f[BR]//g' -e 's/ *$//' \
	>"$T/commands"
n=$(wc -l <"$T/commands")
check "the command table has commands ($n)" [ "$n" -ge 20 ]
missing=""
while read -r cmd; do
	grep -qE "^$cmd( |$)" "$T/tags" || missing="$missing '$cmd'"
done <"$T/commands"
check "bulwark(1) COMMANDS describes every command${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]

# 3. every option, per command too
check_options bulwark "$MAN/bulwark.1"
missing=""
while read -r cmd; do
	# shellcheck disable=SC2086
	"$BW/bulwark" $cmd --help >"$T/cmd.help" ||
		fail "bulwark $cmd --help exits 0"
	grep -q "^Usage: bulwark \[GLOBAL OPTIONS\] $cmd" "$T/cmd.help" ||
		missing="$missing '$cmd'"
done <"$T/commands"
check "bulwark CMD --help shows CMD's own usage${missing:+ (not for:$missing)}" \
	[ -z "$missing" ]

# 4. the other binaries' pages
check_options bulwarkd "$MAN/bulwarkd.8"
check_options bulwark-agent "$MAN/bulwark-agent.8"
check_options bulwark-verify "$MAN/bulwark-verify.1"
check_options bulwark-harden "$MAN/bulwark-harden.8"
check_options bulwark-console "$MAN/bulwark-console.8"
check_options bulwark-collect "$MAN/bulwark-collect.8"

# 5. bulwark-update: each command its --help lists (an indented word
# between "commands:" and "options:") is a .TP entry of COMMANDS, and
# each option it lists is one of OPTIONS (a mention elsewhere, such as
# --grubenv in the entries of --fs and status, is not its entry).
UPD="$top_srcdir/appliance/update/bulwark-update"
# missing_update_commands PAGE: the commands bulwark-update lists that
# PAGE's COMMANDS section has no entry for.
missing_update_commands() {
	local cmd
	section_tags "$1" COMMANDS >"$T/update.tags"
	while read -r cmd; do
		grep -qE "^$cmd( |\$)" "$T/update.tags" || printf ' %s' "$cmd"
	done <"$T/update.commands"
}
"$UPD" --help | awk '/^commands:/ { on = 1; next } /^options:/ { on = 0 }
	on && /^  [a-z]/ { print $1 }' >"$T/update.commands"
n=$(wc -l <"$T/update.commands")
check "bulwark-update --help lists commands ($n)" [ "$n" -ge 5 ]
missing=$(missing_update_commands "$MAN/bulwark-update.8")
check "bulwark-update.8 COMMANDS describes every command${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]
"$UPD" --help >/dev/null 2>&1 || fail "bulwark-update --help exits 0"
n=$(long_options "$UPD" | wc -l)
check "bulwark-update --help lists options ($n)" [ "$n" -gt 1 ]
missing=$(missing_entries "$UPD" "$MAN/bulwark-update.8")
check "bulwark-update.8 OPTIONS has an entry for every option its --help lists${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]

# 5b. bulwark-update's --help is a text apart from its option parser
# and its command dispatch: what they take is what it lists.
# update_parsed SCRIPT: the long options of the patterns of SCRIPT's
# option loop (`while [ $# -gt 0 ]; do` .. `done`) and the commands of
# its top-level `case "$cmd" in` blocks, one a line.
update_parsed() {
	awk '/^while \[ \$# -gt 0 \]; do$/ { opts = 1; next }
		/^case "\$cmd" in$/ { cmds = 1; next }
		opts && /^done$/ { opts = 0 }
		cmds && /^esac$/ { cmds = 0 }
		(opts && /^\t[^\t (]+\)/) || (cmds && /^[^\t (]+\)/) {
			sub(/^\t/, ""); sub(/\).*/, "")
			n = split($0, w, "|")
			for (i = 1; i <= n; i++)
				if (w[i] ~ (opts ? "^--[a-z][a-z0-9-]*$" : "^[a-z]+$"))
					print w[i]
		}' "$1" | sort -u
}
# update_listed SCRIPT: the commands and options SCRIPT's --help lists
# (the first word of each entry under "commands:" and "options:").
update_listed() {
	"$1" --help | awk '/^commands:/ { on = 1; next } /^options:/ { on = 2; next }
		on == 1 && /^  [a-z]/ { print $1 } on == 2 && /^  --/ { print $1 }' |
		sort -u
}
# update_unlisted SCRIPT: what SCRIPT parses or dispatches that its
# --help does not list, and what it lists that is neither.
update_unlisted() {
	update_parsed "$1" >"$T/update.parsed"
	update_listed "$1" >"$T/update.listed"
	comm -23 "$T/update.parsed" "$T/update.listed" | sed 's/.*/ & (not in --help)/'
	comm -13 "$T/update.parsed" "$T/update.listed" | sed 's/.*/ & (not taken)/'
}
n=$(update_parsed "$UPD" | wc -l)
check "bulwark-update parses options and dispatches commands ($n)" [ "$n" -ge 12 ]
missing=$(update_unlisted "$UPD" | tr -d '\n')
check "bulwark-update --help lists every option it parses and command it dispatches, and no others${missing:+ (differ:$missing)}" \
	[ -z "$missing" ]

# 5c. bulwark-install: every option its --help lists has an OPTIONS
# entry, and its answer keys with their defaults (the script's `known`
# list and `ans` array) are the ANSWER FILE entries of its page and the
# rows of docs/install.md's answer-file table, both ways.
INST="$top_srcdir/appliance/iso/installer/bulwark-install"
"$INST" --help >/dev/null 2>&1 || fail "bulwark-install --help exits 0"
n=$(long_options "$INST" | wc -l)
check "bulwark-install --help lists options ($n)" [ "$n" -ge 4 ]
missing=$(missing_entries "$INST" "$MAN/bulwark-install.8")
check "bulwark-install.8 OPTIONS has an entry for every option its --help lists${missing:+ (missing:$missing)}" \
	[ -z "$missing" ]
# install_keys SCRIPT: "KEY DEFAULT" for each key of its `known` list,
# the default from its `ans` array (none: "-"), sorted.
install_keys() {
	awk '/^declare -A ans=\($/ { on = 1; next } on && /^\)$/ { on = 0 }
		on { while (match($0, /\[[a-z0-9_]+\]=[^ ]+/)) {
			kv = substr($0, RSTART + 1, RLENGTH - 1); sub(/\]/, "", kv)
			def[substr(kv, 1, index(kv, "=") - 1)] = substr(kv, index(kv, "=") + 1)
			$0 = substr($0, RSTART + RLENGTH) } }
		/^known=" / { sub(/^known=" /, ""); sub(/ "$/, ""); n = split($0, k, " ") }
		END { for (i = 1; i <= n; i++) print k[i], (k[i] in def ? def[k[i]] : "-") }' "$1" | sort
}
# page_keys PAGE: "KEY DEFAULT" for each ANSWER FILE entry ("key= (default)").
page_keys() {
	section_tags "$1" "ANSWER FILE" |
		sed -n 's/^\([a-z0-9_]*\)= *(\(.*\))$/\1 \2/p' | sort
}
# doc_keys DOC: "KEY DEFAULT" for each row of the table (| `key` |
# `default` | meaning |) of its section "### The answer file".
doc_keys() {
	awk '/^#/ { on = ($0 == "### The answer file") } on' "$1" |
		sed -n 's/^| `\([a-z0-9_]*\)` | `\([^`]*\)` |.*/\1 \2/p' | sort
}
install_keys "$INST" >"$T/inst.keys"
n=$(wc -l <"$T/inst.keys")
check "bulwark-install knows answer keys ($n)" [ "$n" -ge 10 ]
page_keys "$MAN/bulwark-install.8" >"$T/inst.page"
missing=$(diff "$T/inst.keys" "$T/inst.page" | sed -n 's/^[<>] //p' | tr '\n' ';')
check "bulwark-install.8 ANSWER FILE has each answer key with its default, and no others${missing:+ (differ: $missing)}" \
	[ -z "$missing" ]
doc_keys "$top_srcdir/docs/install.md" >"$T/inst.doc"
missing=$(diff "$T/inst.keys" "$T/inst.doc" | sed -n 's/^[<>] //p' | tr '\n' ';')
check "docs/install.md's answer-file table has each answer key with its default, and no others${missing:+ (differ: $missing)}" \
	[ -z "$missing" ]

# 6. the checks can fail: a page without --follow, an update page
# without rollback's entry or without --grubenv's entry (its .TP, tag
# and text; --grubenv is still named in other entries), are caught
sed 's/\\-\\-follow//g' "$MAN/bulwark.1" >"$T/bulwark.1"
check "a page without --follow is caught" \
	[ "$(missing_options "$BW/bulwark" "$T/bulwark.1")" = " --follow" ]
sed 's/^\.B rollback$/.B roll/' "$MAN/bulwark-update.8" >"$T/bulwark-update.8"
check "an update page without rollback's entry is caught" \
	[ "$(missing_update_commands "$T/bulwark-update.8")" = " rollback" ]
awk '/^\.(TP|SH)/ { skip = 0 }
	held { held = 0; if ($0 ~ /^\.B[IR]? \\-\\-grubenv /) skip = 1; else print ".TP" }
	/^\.TP$/ { held = 1; next }
	!skip { print }' "$MAN/bulwark-update.8" >"$T/bulwark-update.8"
check "an update page without --grubenv's entry is caught" \
	[ "$(missing_entries "$UPD" "$T/bulwark-update.8")" = " --grubenv" ]
check "an update page without --grubenv's entry still names --grubenv" \
	[ -z "$(missing_options "$UPD" "$T/bulwark-update.8")" ]
# bulwark-update with an option its --help does not list, a command it
# does not list, and without the parser's --json
sed 's/^\t--json) json=1; shift ;;$/&\n\t--frob) shift ;;/' "$UPD" >"$T/upd-opt"
sed 's/^rollback) cmd_rollback ;;$/&\nfrob) cmd_status ;;/' "$UPD" >"$T/upd-cmd"
sed '/^\t--json) json=1; shift ;;$/d' "$UPD" >"$T/upd-nojson"
chmod +x "$T/upd-opt" "$T/upd-cmd" "$T/upd-nojson"
check "an option bulwark-update parses but its --help lacks is caught" \
	[ "$(update_unlisted "$T/upd-opt" | tr -d '\n')" = " --frob (not in --help)" ]
check "a command bulwark-update dispatches but its --help lacks is caught" \
	[ "$(update_unlisted "$T/upd-cmd" | tr -d '\n')" = " frob (not in --help)" ]
check "an option bulwark-update's --help lists but it does not parse is caught" \
	[ "$(update_unlisted "$T/upd-nojson" | tr -d '\n')" = " --json (not taken)" ]
# an installer with a key its page lacks, and one whose default changed
sed 's/^known=" disk /known=" disk frob /' "$INST" >"$T/inst-key"
check "an answer key bulwark-install.8 lacks is caught" \
	[ "$(install_keys "$T/inst-key" | diff - "$T/inst.page" | sed -n 's/^< //p')" = "frob -" ]
sed 's/\[min_disk_gib\]=8 /[min_disk_gib]=9 /' "$INST" >"$T/inst-def"
check "a changed answer default is caught" \
	[ "$(install_keys "$T/inst-def" | diff - "$T/inst.doc" | sed -n 's/^< //p')" = "min_disk_gib 9" ]
finish

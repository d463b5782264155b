#!/bin/sh
# The man pages cover what the binaries accept (issue 14, done-means 3):
# bulwark(1)'s SYNOPSIS is the one `bulwark --help-man` makes from the
# CLI's command table, its COMMANDS section describes every command, and
# every option that bulwark, bulwarkd, bulwark-agent, bulwark-verify or
# bulwark-harden (and bulwark-console, bulwark-collect) lists in its --help (made from each one's option table) is in its page.
. "${top_srcdir:-.}/tests/integration/lib.sh"
MAN="$top_srcdir/man"

# section PAGE NAME: the lines of section NAME of PAGE, heading included.
section() {
	awk -v want=".SH $2" '
		/^\.SH / { on = ($0 == want) }
		on { print }' "$1"
}

# long_options BINARY: the --long options its --help lists, one a line.
long_options() {
	"$1" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u
}

# missing_options BINARY PAGE: the options BINARY lists that PAGE lacks.
missing_options() {
	local opt
	for opt in $(long_options "$BW/$1"); do
		grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$2" ||
			printf ' %s' "$opt"
	done
}

# check_options BINARY PAGE: every option BINARY lists is in PAGE.
check_options() {
	local bin="$1" page="$2" n missing
	"$BW/$bin" --help >/dev/null 2>&1 || fail "$bin --help exits 0"
	n=$(long_options "$BW/$bin" | wc -l)
	check "$bin --help lists options ($n)" [ "$n" -gt 1 ]
	missing=$(missing_options "$bin" "$page")
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
section "$MAN/bulwark.1" COMMANDS | awk 'tp { print; tp = 0 } /^\.TP/ { tp = 1 }' |
	sed -e 's/^\.[A-Z]* *//' -e 's/\\f[BIRP]//g' -e 's/"//g' -e 's/\\-/-/g' \
	>"$T/tags"
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

# 5. the checks can fail: a page without --follow is caught
sed 's/\\-\\-follow//g' "$MAN/bulwark.1" >"$T/bulwark.1"
check "a page without --follow is caught" \
	[ "$(missing_options bulwark "$T/bulwark.1")" = " --follow" ]
finish

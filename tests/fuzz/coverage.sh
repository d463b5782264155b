#!/bin/sh
# Source-level coverage of the fuzz corpus: rebuilds each target with
# clang's profile instrumentation (no sanitizers), replays the corpus
# that run.sh grew ($FUZZ_OUT/corpus/<target>) plus the committed seeds,
# and prints line and branch coverage of the functions each target is
# meant to exercise. Run it after tests/fuzz/run.sh; it finds no bugs.
# Usage: tests/fuzz/coverage.sh      (same environment as run.sh)
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
src=$(cd "$src" && pwd)
if [ -z "${top_builddir:-}" ]; then
	if [ -f "$src/build/config.h" ]; then top_builddir=$src/build; else top_builddir=$src; fi
fi
bld=$(cd "$top_builddir" && pwd)
out=${FUZZ_OUT:-$bld/fuzz}
cc=${FUZZ_CC:-clang}
for tool in "$cc" llvm-profdata llvm-cov; do
	command -v "$tool" >/dev/null 2>&1 || { echo "coverage.sh: $tool not found" >&2; exit 77; }
done

# The functions each target is for (file:function ...).
functions() {
	case $1 in
	fuzz-json-validate) echo "lib/json.c:json_parse_bounded lib/json.c:json_depth_scan
		controlplane/resource.c:res_validate controlplane/resource.c:res_stored_form
		controlplane/resource.c:res_render controlplane/schema.c:schema_validate_value
		controlplane/schema.c:schema_validate_object" ;;
	fuzz-api-route) echo "controlplane/api-route.c:api_route_parse
		controlplane/api-route.c:split_path controlplane/api-route.c:copy_name" ;;
	fuzz-http-head) echo "client/client.c:client_parse_head" ;;
	fuzz-label-selector) echo "controlplane/resource.c:res_label_match
		controlplane/schema.c:schema_check_label_key controlplane/schema.c:schema_check_label_value
		controlplane/resource.c:res_fields_parse controlplane/resource.c:res_project" ;;
	fuzz-cli-args) echo "cli/cli-args.c:cli_parse" ;;
	fuzz-store-key) echo "controlplane/store.c:store_key_check controlplane/resource.c:res_key_parse" ;;
	fuzz-audit-reader) echo "audit/record.c:audit_line_parse audit/verify.c:audit_verifier_segment" ;;
	fuzz-image-tar) echo "image/image.c:image_tar_check_feed image/image.c:image_tar_check_end
		image/image.c:tar_header image/image.c:tar_pax image/image.c:tar_norm
		image/image.c:tar_num image/image.c:tar_below_symlink" ;;
	esac
}
extra_sources() {
	case $1 in
	fuzz-image-tar) echo "image/image.c lib/runtime-exec.c" ;;
	fuzz-audit-reader) echo "audit/record.c audit/segment.c audit/signer.c audit/verify.c audit/search.c" ;;
	esac
}
core_sources="lib/err.c lib/log.c lib/fileio.c lib/json.c hardening/crypto-policy.c
	controlplane/schema.c controlplane/resource.c controlplane/api-route.c
	controlplane/store.c controlplane/store-lmdb.c client/client.c cli/cli-args.c"
pkgs="jansson libcrypto libssl lmdb libevent"
prof="-fprofile-instr-generate -fcoverage-mapping"
# shellcheck disable=SC2086 # $pkgs is a list of package names
cflags="-std=gnu17 -g -O0 $prof -I$src -I$bld $(pkg-config --cflags $pkgs)"
cov=$out/coverage
mkdir -p "$cov"

printf '%-20s %-26s %8s %9s\n' target function lines branches
for f in "$src"/tests/fuzz/fuzz-*.c; do
	t=$(basename "$f" .c)
	[ -z "${FUZZ_TARGETS:-}" ] || case " $FUZZ_TARGETS " in *" $t "*) ;; *) continue ;; esac
	objs=
	for c in $core_sources $(extra_sources "$t") "tests/fuzz/$t.c"; do
		o=$cov/$(echo "$c" | sed 's,/,_,g; s,\.c$,.o,')
		# shellcheck disable=SC2086
		"$cc" $cflags -c "$src/$c" -o "$o" || exit 2
		objs="$objs $o"
	done
	# shellcheck disable=SC2086,SC2046
	"$cc" -fsanitize=fuzzer $prof $objs $(pkg-config --libs $pkgs) -lpthread \
	    -o "$cov/$t" || exit 2
	dirs=
	for d in "$out/corpus/$t" "$out/seeds/$t" "$src/tests/fuzz/corpus/$t"; do
		[ -d "$d" ] && dirs="$dirs $d"
	done
	rm -f "$cov/$t".profraw
	# -runs=0 replays the corpus without mutating it.
	# shellcheck disable=SC2086
	LLVM_PROFILE_FILE=$cov/$t.profraw "$cov/$t" -runs=0 $dirs > "$cov/$t.log" 2>&1
	llvm-profdata merge -sparse "$cov/$t.profraw" -o "$cov/$t.profdata" || exit 2
	for fn in $(functions "$t"); do
		file=${fn%%:*} name=${fn#*:}
		# Columns of `report -show-functions`: Name Regions Miss Cover
		# Lines Miss Cover Branches Miss Cover.
		llvm-cov report -show-functions -instr-profile="$cov/$t.profdata" \
		    "$cov/$t" "$src/$file" 2>/dev/null |
		    awk -v t="$t" -v n="$name" '$1 == n || $1 ~ (":" n "$") { printf "%-20s %-26s %8s %9s\n", t, n, $7, ($8 == 0 ? "-" : $10) }'
	done
done

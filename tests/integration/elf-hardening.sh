#!/bin/bash
# Every installed binary is PIE, has full RELRO (BIND_NOW), a
# non-executable stack, stack protector and fortified libc calls.
. "$(dirname "$0")/lib.sh" || exit 99

bins="$BW/bulwarkd $BW/bulwark $BW/bulwark-verify"
for b in $bins; do
	n=$(basename "$b")
	[ -x "$b" ] || { fail "$n is not built"; continue; }
	check "$n is PIE" sh -c "readelf -h '$b' | grep -q 'Type:.*DYN'"
	check "$n has RELRO" sh -c "readelf -lW '$b' | grep -q GNU_RELRO"
	check "$n binds now" sh -c "readelf -dW '$b' | grep -Eq 'BIND_NOW|FLAGS_1.*NOW'"
	check "$n has a non-executable stack" \
		sh -c "readelf -lW '$b' | grep GNU_STACK | grep -qv 'RWE'"
	check "$n uses the stack protector" sh -c "readelf -sW --dyn-syms '$b' | grep -q __stack_chk_fail"
	if readelf -dW "$b" | grep -q 'libasan'; then
		echo "ok: $n is a sanitizer build: FORTIFY_SOURCE is off by design"
	else
		check "$n has fortified libc calls (_chk)" \
			sh -c "readelf -sW --dyn-syms '$b' | grep -Eq '__[a-z_]+_chk@'"
	fi
done
finish

#!/bin/sh
# No production source picks a refused algorithm itself (issue 15, FIPS
# policy; docs/hardening.md "Cryptography"): MD5, SHA-1, ChaCha20 and the
# legacy ciphers are reached neither through their EVP_ constructors nor
# by name, and no code looks algorithms up by name outside
# hardening/crypto.c, whose allow-lists refuse them at run time.
# tests/unit/hardening/test-crypto.c shows the run-time refusals.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}

ctors='EVP_(md4|md5|md5_sha1|sha1|mdc2|ripemd160|whirlpool|sm3|chacha20|chacha20_poly1305|des_[a-z0-9_]*|rc[245]_[a-z0-9_]*|bf_[a-z0-9_]*|cast5_[a-z0-9_]*|idea_[a-z0-9_]*|seed_[a-z0-9_]*|sm4_[a-z0-9_]*)\('
names='(_fetch|_Q_digest|_Q_mac)\([^"]*"(MD[245]|SHA-?1|ChaCha|DES|RC[245]|BF|CAST|IDEA|SEED|SM[34])'
byname='EVP_get_(digest|cipher)byname\('

srcs=$(cd "$top_srcdir" && find . -name '*.[ch]' \
	! -path './tests/*' ! -path './build*' ! -path './.git/*' \
	! -path './hardening/crypto.c' | sed 's|^\./||' | sort)
n=$(echo "$srcs" | wc -l)
# The tree holds well over a hundred sources; a few means find broke.
[ "$n" -ge 50 ] || { echo "only $n sources found under $top_srcdir" >&2; exit 99; }

# file:line:text for every hit, one grep over all sources
hits=$(cd "$top_srcdir" && echo "$srcs" | xargs grep -inHE "$ctors|$names|$byname")
fails=0
[ -z "$hits" ] || {
	echo "$hits" | sed 's|^|FAIL: refused algorithm or lookup by name: |'
	fails=$(echo "$hits" | wc -l); }
# The pattern is live: the unit test uses SHA-1 on purpose.
grep -qE "$ctors" "$top_srcdir/tests/unit/hardening/test-crypto.c" || {
	echo "FAIL: pattern finds nothing in test-crypto.c"; fails=$((fails + 1)); }
echo "checked $n sources, $fails direct uses of refused algorithms"
[ "$fails" -eq 0 ]

# Sourced by tests: installs ajv@8 and ajv-formats with npm into a cache
# directory once (the npm registry is reachable) and exports NODE_PATH.
# Sets AJV_SKIP_REASON instead when node/npm are missing.
bw_ajv_setup() {
	AJV_SKIP_REASON=
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		AJV_SKIP_REASON="node or npm not installed"
		return 1
	fi
	AJV_DIR=${BW_AJV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bulwark-ajv}
	if [ ! -f "$AJV_DIR/node_modules/ajv/package.json" ] ||
	   [ ! -f "$AJV_DIR/node_modules/ajv-formats/package.json" ]; then
		mkdir -p "$AJV_DIR" || return 1
		# A lock keeps parallel test runs from installing at once.
		( flock 9
		  [ -f "$AJV_DIR/node_modules/ajv-formats/package.json" ] ||
		  npm install --silent --no-audit --no-fund --prefix "$AJV_DIR" \
		      ajv@8 ajv-formats@3 >"$AJV_DIR/install.log" 2>&1
		) 9>"$AJV_DIR/.lock" || {
			AJV_SKIP_REASON="npm install ajv failed (see $AJV_DIR/install.log)"
			return 1
		}
	fi
	NODE_PATH=$AJV_DIR/node_modules
	export NODE_PATH
}

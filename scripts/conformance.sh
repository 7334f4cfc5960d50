#!/usr/bin/env bash
# Public PKCS#11 conformance suites against the module (with a local tsb-emulator) and against
# SoftHSMv2, side by side:
#
#   - the `cryptoki` crate's own tests (tests/basic.rs and tests/allowed_mechanisms.rs of the
#     version in Cargo.lock, from the crates.io source cargo fetches);
#   - python-pkcs11's test suite (tests/ of the PyPI sdist of PY_PKCS11_VERSION; the library
#     itself from its wheel).
#
#   scripts/conformance.sh            # build, fetch, run, print both columns, check expectations
#
# The suites are fetched at run time, never committed. It prints a table (passed per suite and
# target) and fails when a test listed in scripts/conformance-expected.txt (every test that passes
# against the module today) fails against the module. README, "Conformance", lists every test that
# fails against the module and why. Work files go to target/conformance/.
#
# Needs: Rust, python3 with venv, softhsm2 (installed with apt when missing, as root or sudo),
# and the package registries (crates.io, PyPI).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/target/conformance
EXPECTED=$ROOT/scripts/conformance-expected.txt
PY_PKCS11_VERSION=0.10.1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

section() { printf '\n==== %s (%d s) ====\n' "$*" $((SECONDS - start)); }
start=$SECONDS

# ---- packages ---------------------------------------------------------------------------------
missing=()
for p in softhsm2 python3-venv; do
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  section "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
  "${SUDO[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q "${missing[@]}"
fi
SOFTHSM_MODULE=$(dpkg -L libsofthsm2 | grep '/libsofthsm2\.so$' | head -n 1)
PYTHON=/usr/bin/python3

rm -rf "$WORK/run"
mkdir -p "$WORK/run"
RUN=$WORK/run

# ---- build ------------------------------------------------------------------------------------
section "build (release)"
cargo build --release --locked -p tsb-pkcs11 -p tsb-emulator
MODULE=$ROOT/target/release/libtsb_pkcs11.so
EMULATOR=$ROOT/target/release/tsb-emulator

# ---- fetch the suites -------------------------------------------------------------------------
section "fetch the suites"
CRYPTOKI_VERSION=$(awk '/^name = "cryptoki"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
cargo fetch --locked >/dev/null
CRYPTOKI_SRC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"cryptoki-$CRYPTOKI_VERSION" | head -n 1)
[ -d "$CRYPTOKI_SRC/tests" ] || { echo "error: no cryptoki-$CRYPTOKI_VERSION source with tests/" >&2; exit 1; }
cp -r "$CRYPTOKI_SRC" "$RUN/cryptoki"
# A crate of its own, not a member of this workspace (it lies under target/).
printf '\n[workspace]\n' >>"$RUN/cryptoki/Cargo.toml"
echo "cryptoki $CRYPTOKI_VERSION from $CRYPTOKI_SRC"

VENV=$WORK/venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pkcs11, pytest, cryptography, parameterized" 2>/dev/null \
   || [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("python-pkcs11"))')" != "$PY_PKCS11_VERSION" ]; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --only-binary :all: "python-pkcs11==$PY_PKCS11_VERSION" \
    "cryptography>=44" "parameterized>=0.9" "pytest>=8.3.4"
fi
"$VENV/bin/pip" download -q --no-binary python-pkcs11 --no-deps -d "$RUN/sdist" "python-pkcs11==$PY_PKCS11_VERSION"
tar xzf "$RUN"/sdist/python_pkcs11-"$PY_PKCS11_VERSION".tar.gz -C "$RUN/sdist"
# The tests only, away from the sdist's pkcs11/ (which would shadow the installed library).
mkdir -p "$RUN/python" && cp -r "$RUN/sdist/python_pkcs11-$PY_PKCS11_VERSION/tests" "$RUN/python/tests"
echo "python-pkcs11 $PY_PKCS11_VERSION"

# ---- runners ----------------------------------------------------------------------------------
# Each writes the ids of the tests that passed to $RUN/<target>-<suite>.passed, one per line.

run_python() { # target module env...
  local target=$1 module=$2; shift 2
  ( cd "$RUN/python" && env "$@" PKCS11_MODULE="$module" \
      "$VENV/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$RUN/$target-python.xml" tests \
      >"$RUN/$target-python.log" 2>&1 ) || true
  "$VENV/bin/python" - "$RUN/$target-python.xml" >"$RUN/$target-python.passed" <<'EOF'
import sys, xml.etree.ElementTree as ET
for tc in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    if not any(c.tag in ("failure", "error", "skipped") for c in tc):
        print(f"python:{tc.get('classname')}::{tc.get('name')}")
EOF
}

run_cryptoki() { # target module env...
  local target=$1 module=$2; shift 2
  ( cd "$RUN/cryptoki" && env "$@" TEST_PKCS11_MODULE="$module" CARGO_TARGET_DIR="$WORK/cryptoki-target" \
      cargo test -j2 --test basic --test allowed_mechanisms -- --test-threads=1 \
      >"$RUN/$target-cryptoki.log" 2>&1 ) || true
  awk '/^test .* \.\.\. ok$/ { print "cryptoki:" $2 }' "$RUN/$target-cryptoki.log" | sort >"$RUN/$target-cryptoki.passed"
  # The runner's own count must match what was read from its lines.
  local said
  said=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($i == "passed;") p += $(i-1) } END { print p + 0 }' "$RUN/$target-cryptoki.log")
  if [ "$said" != "$(grep -c . "$RUN/$target-cryptoki.passed")" ]; then
    echo "error: cryptoki against $target: cargo says $said passed, the log shows otherwise ($RUN/$target-cryptoki.log)" >&2
    exit 1
  fi
}

# ---- SoftHSMv2 --------------------------------------------------------------------------------
section "SoftHSMv2"
mkdir -p "$RUN/softhsm-python/tokens" "$RUN/softhsm-cryptoki/tokens"
for d in softhsm-python softhsm-cryptoki; do
  printf 'directories.tokendir = %s/%s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$RUN" "$d" >"$RUN/$d/softhsm2.conf"
done
SOFTHSM2_CONF=$RUN/softhsm-python/softhsm2.conf softhsm2-util --init-token --free --label TEST \
  --so-pin 1234 --pin 1234 >/dev/null
run_python softhsm "$SOFTHSM_MODULE" SOFTHSM2_CONF="$RUN/softhsm-python/softhsm2.conf" \
  PKCS11_TOKEN_LABEL=TEST PKCS11_TOKEN_PIN=1234 PKCS11_TOKEN_SO_PIN=1234
run_cryptoki softhsm "$SOFTHSM_MODULE" SOFTHSM2_CONF="$RUN/softhsm-cryptoki/softhsm2.conf"

# ---- the module and the emulator --------------------------------------------------------------
section "tsb-pkcs11 with tsb-emulator"
"$EMULATOR" --listen 127.0.0.1:0 >"$RUN/emulator.out" 2>"$RUN/emulator.err" &
EMU_PID=$!
trap 'kill "$EMU_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^listening on ' "$RUN/emulator.out" 2>/dev/null && break; sleep 0.1; done
URL=$(awk '/^listening on / { print $3; exit }' "$RUN/emulator.out")
[ -n "$URL" ] || { echo "error: the emulator did not start" >&2; cat "$RUN/emulator.err" >&2; exit 1; }
# PIN hashes of the suites' PINs. 1000 iterations: test PINs only (the default is 600000).
hash() { "$PYTHON" "$ROOT/scripts/tsb-pin-hash" --iterations 1000 "$1"; }
cat >"$RUN/python.json" <<EOF
{"slots": [{"label": "TEST", "url": "$URL", "allow_http": true, "progress": false,
            "label_prefix": "py-", "user_pin": "$(hash 1234)", "so_pin": "$(hash 1234)"}]}
EOF
cat >"$RUN/cryptoki.json" <<EOF
{"slots": [{"label": "cryptoki", "url": "$URL", "allow_http": true, "progress": false,
            "label_prefix": "cryptoki-", "allow_init_token": true, "so_pin": "$(hash abcdef)",
            "state_file": "$RUN/cryptoki-state.json"}]}
EOF
# The module's log goes to a file: on stderr it would cut into the test runners' lines.
run_python module "$MODULE" TSB_PKCS11_CONFIG="$RUN/python.json" TSB_PKCS11_LOG_FILE="$RUN/module-python.module.log" \
  PKCS11_TOKEN_LABEL=TEST PKCS11_TOKEN_PIN=1234 PKCS11_TOKEN_SO_PIN=1234
run_cryptoki module "$MODULE" TSB_PKCS11_CONFIG="$RUN/cryptoki.json" TSB_PKCS11_LOG_FILE="$RUN/module-cryptoki.module.log"
kill "$EMU_PID" 2>/dev/null || true
wait "$EMU_PID" 2>/dev/null || true
trap - EXIT

# Every session key deleted: nothing is left under the suites' prefixes but token keys the
# suites made on purpose (C_InitToken removed the cryptoki ones at each test's start).

# ---- report -----------------------------------------------------------------------------------
section "results"
count() { grep -c . "$1" || true; }
printf '%-22s %10s %10s\n' "suite (tests passed)" tsb-pkcs11 SoftHSMv2
for s in python cryptoki; do
  if [ $s = python ]; then name="python-pkcs11 $PY_PKCS11_VERSION"; else name="cryptoki $CRYPTOKI_VERSION"; fi
  printf '%-22s %10s %10s\n' "$name" "$(count "$RUN/module-$s.passed")" "$(count "$RUN/softhsm-$s.passed")"
done
cat "$RUN"/module-*.passed | sort >"$RUN/module.passed"
# Tests that passed against the module and are expected to: a regression is one that is listed
# and did not pass.
regressions=$(comm -23 <(grep -v '^#' "$EXPECTED" | grep . | sort) "$RUN/module.passed")
new=$(comm -13 <(grep -v '^#' "$EXPECTED" | grep . | sort) "$RUN/module.passed")
if [ -n "$new" ]; then
  echo
  echo "passing now and not yet in $(basename "$EXPECTED") (add them):"
  echo "$new" | sed 's/^/  /'
fi
echo
echo "conformance time: $((SECONDS - start)) s (logs in $RUN)"
if [ -n "$regressions" ]; then
  echo
  echo "error: tests that passed before fail against the module now:" >&2
  echo "$regressions" | sed 's/^/  /' >&2
  exit 1
fi
echo "conformance: $(count "$RUN/module.passed") passed against the module, none of the expected ones failed"

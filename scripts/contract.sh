#!/usr/bin/env bash
# Contract mode (README, "Contract mode"): the module's integration tests that need no emulator
# control, run through the built libtsb_pkcs11.so against a TSB.
#
#   scripts/contract.sh                      against a tsb-emulator started here: HTTPS with its
#                                            own CA, a bearer token and an API key per role, NO
#                                            test controls (what CI runs)
#   TSB_CONTRACT_URL=https://... \
#   TSB_CONTRACT_TOKEN_FILE=... scripts/contract.sh
#                                            against that TSB (a CloudHSM sandbox, your own TSB)
#   scripts/contract.sh --sweep-leftovers    delete the keys of earlier, interrupted runs
#                                            (labels tsbp11-contract-*) on the TSB of TSB_CONTRACT_URL
#
# Environment for a TSB of your own (checked up front, one line per problem):
#   TSB_CONTRACT_URL                 https://... (http:// only to a loopback address)
#   TSB_CONTRACT_TOKEN               bearer token (JWT), or
#   TSB_CONTRACT_TOKEN_FILE          a file holding it
#   TSB_CONTRACT_API_KEY_KEY_MANAGEMENT, TSB_CONTRACT_API_KEY_KEY_OPERATION,
#   TSB_CONTRACT_API_KEY_APPROVER, TSB_CONTRACT_API_KEY_SERVICE
#                                    X-API-KEY per role (TSB 2.0 and later)
#   TSB_CONTRACT_NO_AUTH=1           the TSB needs no credentials at all
#   TSB_CONTRACT_CA_FILE             extra trusted CA certificates (PEM)
#   TSB_CONTRACT_CLIENT_CERT, TSB_CONTRACT_CLIENT_KEY   mTLS (PEM)
#   TSB_CONTRACT_APPROVER_KEY        a tsb-approve private key (tsb-approve keygen); default: a
#                                    fresh P-256 key per run, put into the test keys' policies
#   TSB_CONTRACT_TSB_VERSION         the TSB's version, when GET /v1/versionInfo cannot tell
#                                    (with the emulator: the profile it runs, --tsb-version)
#   TSB_CONTRACT_EMULATOR            a tsb-emulator binary to use instead of building one
#
# Everything the run creates has labels under one prefix, tsbp11-contract-<UTC time>-<random>-,
# and is deleted at the end, after failures too; an interrupted run sweeps its prefix on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

started=$SECONDS
sweep_leftovers=0
case "${1:-}" in
  "") ;;
  --sweep-leftovers) sweep_leftovers=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: scripts/contract.sh [--sweep-leftovers | --help]" >&2; exit 2 ;;
esac

command -v cargo >/dev/null || { echo "error: cargo not found (https://rustup.rs)" >&2; exit 1; }

# Run the contract test binary (built by cargo if needed) with the environment as it is now.
run_contract() {
  # Each failing case says where it failed; the final panic needs no backtrace.
  RUST_BACKTRACE=0 cargo test --workspace --locked -q --test contract -- --exact contract --nocapture --test-threads=1
}

# ---------------------------------------------------------------------------------------------
# A TSB of the user's: validate the environment up front.

is_loopback_url() {
  local hostport=${1#http://}
  hostport=${hostport%%/*}
  case "$hostport" in
    127.*|localhost|localhost:*|'[::1]'|'[::1]:'*) return 0 ;;
    *) return 1 ;;
  esac
}

validate() {
  local errors=() v
  local url=$TSB_CONTRACT_URL
  case "$url" in
    https://?*) ;;
    http://?*) is_loopback_url "$url" ||
      errors+=("TSB_CONTRACT_URL=$url: plain http:// only to a loopback address; use https://") ;;
    *) errors+=("TSB_CONTRACT_URL=$url: must be an https:// URL") ;;
  esac
  if [ -n "${TSB_CONTRACT_TOKEN:-}" ] && [ -n "${TSB_CONTRACT_TOKEN_FILE:-}" ]; then
    errors+=("TSB_CONTRACT_TOKEN and TSB_CONTRACT_TOKEN_FILE are both set: give one")
  fi
  for v in TSB_CONTRACT_TOKEN_FILE TSB_CONTRACT_CA_FILE TSB_CONTRACT_CLIENT_CERT \
           TSB_CONTRACT_CLIENT_KEY TSB_CONTRACT_APPROVER_KEY; do
    if [ -n "${!v:-}" ] && ! [ -r "${!v}" ]; then
      errors+=("$v=${!v}: cannot read it")
    fi
  done
  if [ -n "${TSB_CONTRACT_CLIENT_CERT:-}" ] && [ -z "${TSB_CONTRACT_CLIENT_KEY:-}" ]; then
    errors+=("TSB_CONTRACT_CLIENT_CERT is set but TSB_CONTRACT_CLIENT_KEY is not")
  fi
  if [ -z "${TSB_CONTRACT_CLIENT_CERT:-}" ] && [ -n "${TSB_CONTRACT_CLIENT_KEY:-}" ]; then
    errors+=("TSB_CONTRACT_CLIENT_KEY is set but TSB_CONTRACT_CLIENT_CERT is not")
  fi
  local creds=0
  for v in TSB_CONTRACT_TOKEN TSB_CONTRACT_TOKEN_FILE TSB_CONTRACT_API_KEY_KEY_MANAGEMENT \
           TSB_CONTRACT_API_KEY_KEY_OPERATION TSB_CONTRACT_API_KEY_APPROVER \
           TSB_CONTRACT_API_KEY_SERVICE; do
    [ -n "${!v:-}" ] && creds=1
  done
  if [ "$creds" = 0 ] && [ "${TSB_CONTRACT_NO_AUTH:-}" != 1 ]; then
    errors+=("no credentials: set TSB_CONTRACT_TOKEN (or TSB_CONTRACT_TOKEN_FILE) and/or TSB_CONTRACT_API_KEY_<ROLE> (KEY_MANAGEMENT, KEY_OPERATION, APPROVER, SERVICE); TSB_CONTRACT_NO_AUTH=1 for a TSB without authentication")
  fi
  if [ -n "${TSB_CONTRACT_TSB_VERSION:-}" ] &&
     ! [[ $TSB_CONTRACT_TSB_VERSION =~ ^[0-9]+(\.[0-9]+){1,2}$ ]]; then
    errors+=("TSB_CONTRACT_TSB_VERSION=$TSB_CONTRACT_TSB_VERSION: not a version (e.g. 2.2 or 2.1.1)")
  fi
  if [ ${#errors[@]} -gt 0 ]; then
    printf 'error: %s\n' "${errors[@]}" >&2
    echo "(scripts/contract.sh --help lists the variables; without TSB_CONTRACT_URL it runs against a local tsb-emulator)" >&2
    exit 2
  fi
}

# ---------------------------------------------------------------------------------------------
# No TSB given: a tsb-emulator binary on a free loopback port, as a remote TSB would be: HTTPS
# with a CA of its own, a bearer token and an API key per role, and no test controls.

emu_pid=
work=
cleanup() {
  if [ -n "$emu_pid" ]; then
    kill "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
  if [ -n "$work" ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

random_hex() { openssl rand -hex "$1"; }

start_emulator() {
  command -v openssl >/dev/null || { echo "error: openssl not found (apt-get install openssl)" >&2; exit 1; }
  local ignored=() v
  for v in $(compgen -e | grep '^TSB_CONTRACT_' || true); do
    case "$v" in TSB_CONTRACT_TSB_VERSION|TSB_CONTRACT_EMULATOR) ;; *) ignored+=("$v") ;; esac
  done
  if [ ${#ignored[@]} -gt 0 ]; then
    echo "note: TSB_CONTRACT_URL is not set, so this runs against a local tsb-emulator; ignored: ${ignored[*]}"
    for v in "${ignored[@]}"; do unset "$v"; done
  fi

  local emu approve
  if [ -n "${TSB_CONTRACT_EMULATOR:-}" ]; then
    emu=$TSB_CONTRACT_EMULATOR
    [ -x "$emu" ] || { echo "error: TSB_CONTRACT_EMULATOR=$emu is not an executable" >&2; exit 2; }
  else
    emu=target/debug/tsb-emulator
  fi
  # The binaries as the workspace's tests build them (the same features as scripts/test.sh, so
  # after it this builds nothing; `-p` alone would resolve other features and rebuild).
  cargo test --workspace --locked -q --no-run 2>/dev/null ||
    cargo test --workspace --locked -q --no-run
  approve=target/debug/tsb-approve

  work=$(mktemp -d "${TMPDIR:-/tmp}/tsbp11-contract.XXXXXX")
  # A CA and a server certificate for 127.0.0.1 signed by it (the module and tsb-approve trust
  # the CA through TSB_CONTRACT_CA_FILE, as they would a private CA of an on-premises TSB).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=tsb-pkcs11 contract CA" -keyout "$work/ca.key" -out "$work/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    > "$work/server.ext"
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 1 -extfile "$work/server.ext" -out "$work/server.pem" 2>/dev/null

  export TSB_CONTRACT_TOKEN
  TSB_CONTRACT_TOKEN=$(random_hex 16)
  # API keys exist from TSB 2.0.0 (release notes); the emulator refuses them on older profiles.
  local key_args=() role var
  if ! [[ ${TSB_CONTRACT_TSB_VERSION:-} =~ ^1\. ]]; then
    for role in keyManagementToken:KEY_MANAGEMENT keyOperationToken:KEY_OPERATION \
                approverToken:APPROVER serviceToken:SERVICE; do
      var=TSB_CONTRACT_API_KEY_${role#*:}
      export "$var=$(random_hex 16)"
      key_args+=(--api-key "${role%%:*}=${!var}")
    done
  fi
  "$approve" keygen --type ec --out "$work/approver.pem" >/dev/null 2>&1
  export TSB_CONTRACT_APPROVER_KEY=$work/approver.pem
  export TSB_CONTRACT_CA_FILE=$work/ca.pem

  local version_args=()
  if [ -n "${TSB_CONTRACT_TSB_VERSION:-}" ]; then
    version_args=(--tsb-version "$TSB_CONTRACT_TSB_VERSION")
    # The test reads the version from GET /v1/versionInfo, as it does from a real TSB.
    unset TSB_CONTRACT_TSB_VERSION
  fi
  : >"$work/emulator.out"
  # The token through the environment (not the command line); the API keys are throwaway.
  TSB_EMULATOR_BEARER_TOKEN=$TSB_CONTRACT_TOKEN "$emu" --listen 127.0.0.1:0 \
    --tls-cert "$work/server.pem" --tls-key "$work/server.key" \
    "${key_args[@]}" "${version_args[@]}" --quiet >"$work/emulator.out" 2>"$work/emulator.log" &
  emu_pid=$!
  # Its first stdout line is "listening on https://127.0.0.1:PORT".
  local line=""
  for _ in $(seq 1 300); do
    line=$(head -n 1 "$work/emulator.out" 2>/dev/null || true)
    [ -n "$line" ] && break
    if ! kill -0 "$emu_pid" 2>/dev/null; then
      echo "error: tsb-emulator exited at start:" >&2
      cat "$work/emulator.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  case "$line" in
    "listening on https://"*) ;;
    *) echo "error: tsb-emulator did not start (first line: '$line')" >&2; cat "$work/emulator.log" >&2; exit 1 ;;
  esac
  export TSB_CONTRACT_URL=${line#listening on }
  echo "contract.sh: tsb-emulator ($emu) at $TSB_CONTRACT_URL, no test controls, HTTPS with its own CA, a bearer token${key_args:+ and API keys}"
}

# ---------------------------------------------------------------------------------------------

if [ "$sweep_leftovers" = 1 ]; then
  if [ -z "${TSB_CONTRACT_URL:-}" ]; then
    echo "error: --sweep-leftovers needs TSB_CONTRACT_URL (the emulator of a run keeps nothing)" >&2
    exit 2
  fi
  validate
  TSB_CONTRACT_SWEEP_ONLY=tsbp11-contract- run_contract
  exit 0
fi

if [ -n "${TSB_CONTRACT_URL:-}" ]; then
  validate
  mode="the TSB at $TSB_CONTRACT_URL"
else
  start_emulator
  mode="a local tsb-emulator"
fi

# One prefix for the run, known here too: an interrupted run still sweeps it.
TSB_CONTRACT_RUN_PREFIX="tsbp11-contract-$(date -u +%Y%m%dt%H%M%S)-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')-"
export TSB_CONTRACT_RUN_PREFIX
interrupted() {
  trap - INT TERM
  # A request the killed test had already sent (a key generation) still completes on the TSB;
  # nothing here can see it, so the sweep waits a little for it (seen with the emulator: an RSA
  # key created 200 ms after its client was killed). What is still missed, the next run names
  # and --sweep-leftovers deletes.
  echo "contract.sh: interrupted; in 5 s, deleting every key under $TSB_CONTRACT_RUN_PREFIX" >&2
  sleep 5
  TSB_CONTRACT_SWEEP_ONLY=$TSB_CONTRACT_RUN_PREFIX run_contract || true
  exit 130
}
trap interrupted INT TERM

echo "contract.sh: contract mode against $mode"
set +e
run_contract
rc=$?
set -e
echo "contract.sh: $( [ $rc = 0 ] && echo passed || echo FAILED ) against $mode in $((SECONDS - started)) s"
exit "$rc"

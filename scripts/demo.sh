#!/usr/bin/env bash
# tsb-pkcs11 demo: build everything, start a local TSB (tsb-emulator) on a free loopback port, make an
# approver key, create an approval-gated key with the seed's policy, request its CSR and watch the
# module wait, approve with tsb-approve, print the CSR and openssl's reading of it, sign a file and
# verify the signature. Stops what it started, also on Ctrl-C.
#
# Needs: the Rust toolchain (cargo), a C compiler (cc) and openssl. pkcs11-tool is used when present.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bold=""; plain=""
if [ -t 1 ]; then bold=$'\033[1m'; plain=$'\033[0m'; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "demo: $1 is needed ($2)" >&2; exit 1; }; }
need cargo "install the Rust toolchain: https://rustup.rs"
need cc "install a C compiler, e.g. apt-get install gcc"
need make "apt-get install make"
need openssl "apt-get install openssl"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tsb-pkcs11-demo.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] || continue
        pkill -P "$p" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM

# Run a step in the background and wait for it: `wait` returns as soon as a signal arrives, so the
# traps above run at once even when only this script gets the signal.
run() {
    "$@" &
    local p=$!
    PIDS+=("$p")
    wait "$p"
}

step "Building the module, tsb-emulator and tsb-approve (cargo build --release)"
cargo build --release --workspace --bins --lib
BIN=$ROOT/target/release
MODULE=$BIN/libtsb_pkcs11.so
make -s -C c-examples O="$WORK/c" >/dev/null
C=$WORK/c

step "Starting tsb-emulator on a free loopback port"
"$BIN/tsb-emulator" --listen 127.0.0.1:0 >"$WORK/emulator.out" 2>"$WORK/emulator.log" &
PIDS+=($!)
URL=""
for _ in $(seq 1 100); do
    URL=$(sed -n '1s/^listening on //p' "$WORK/emulator.out")
    [ -n "$URL" ] && break
    sleep 0.1
done
[ -n "$URL" ] || { echo "demo: the emulator did not start:"; cat "$WORK/emulator.log"; exit 1; }
echo "tsb-emulator is listening on $URL"

step "Making an approver key (tsb-approve keygen)"
SPKI=$("$BIN/tsb-approve" keygen --type ec --out "$WORK/approver.pem")
echo "approver public key (base64 SubjectPublicKeyInfo): ${SPKI:0:40}..."

step "The seed's policy (1-of-1 approval for use, block, unblock, modify), naming this approver"
rule() {
    cat <<EOF
{"tokens": [{"name": "Token1", "timelock": 0, "timeout": 600, "groups": [{"name": "Group1", "quorum": 1,
  "approvals": [{"type": "public_key", "name": "ApproverKey1", "value": "$SPKI"}]}]}]}
EOF
}
cat >"$WORK/policy.json" <<EOF
{"ruleUse": $(rule), "ruleBlock": $(rule), "ruleUnblock": $(rule), "ruleModify": $(rule), "keyStatus": {"blocked": false}}
EOF
cat "$WORK/policy.json"

cat >"$WORK/config.json" <<EOF
{"slots": [{"label": "demo", "url": "$URL", "allow_http": true, "progress": true}]}
EOF
export TSB_PKCS11_CONFIG=$WORK/config.json TSB_PKCS11_MODULE=$MODULE

approve_later() {
    # Give the person watching a few seconds of the module's wait, then approve like an approver
    # with the Securosys app would.
    ( sleep "$1"; "$BIN/tsb-approve" watch --auto-approve --count 1 --timeout 60 --url "$URL" --key "$WORK/approver.pem" ) &
    PIDS+=($!)
}

step "Creating the approval-gated key SUB.approver.securosys.com and requesting its CSR"
echo "(the approver approves in 5 seconds; meanwhile the module waits and says so on stderr)"
approve_later 5
run "$C/csr_ska" -m "$MODULE" -l SUB.approver.securosys.com -p "$WORK/policy.json" -o "$WORK/sub.csr.pem"

step "The CSR"
cat "$WORK/sub.csr.pem"
step "openssl's reading of it (openssl req -verify -text)"
openssl req -in "$WORK/sub.csr.pem" -noout -verify -text

step "Signing a file with the same key (C_Sign waits for another approval)"
printf 'release artifact built %s\n' "$(date -u +%FT%TZ)" >"$WORK/artifact.txt"
approve_later 3
run "$C/sign_file" -m "$MODULE" -l SUB.approver.securosys.com -i "$WORK/artifact.txt" -o "$WORK/artifact.sig"
openssl req -in "$WORK/sub.csr.pem" -noout -pubkey >"$WORK/sub.pub.pem"
step "Verifying the signature with openssl and the CSR's public key"
openssl dgst -sha256 -verify "$WORK/sub.pub.pem" -signature "$WORK/artifact.sig" "$WORK/artifact.txt"

if command -v pkcs11-tool >/dev/null 2>&1; then
    step "pkcs11-tool sees the same token and objects"
    pkcs11-tool --module "$MODULE" --list-slots
    pkcs11-tool --module "$MODULE" --list-objects
fi

step "Done. What the module and the approver asked the TSB (from the emulator's request log):"
sed -E 's#^([A-Z]+ [^ ]+) .*#\1#; s#/v1/request/[^ ]+#/v1/request/{id}#; s#^(GET|DELETE) /v1/certificate/.*#\1 /v1/certificate/{label}#' \
    "$WORK/emulator.log" | sort | uniq -c | sort -rn
echo "(each approval-gated operation was sent once; the GETs of /v1/request are the module polling for the decision and the examples showing the approvals while they wait)"

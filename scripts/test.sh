#!/usr/bin/env bash
# The one test command: installs the Debian packages the tests drive (real PKCS#11 tools, OpenSSL
# engine, JDK, ...) when they are missing, then runs the whole workspace's tests.
#
#   scripts/test.sh [extra cargo test args...]
#
# Debian 12 / Ubuntu. Needs root or sudo only when a package is missing; prints exactly what it
# installs. Exits non-zero on any failure; no test is skipped for a missing tool.
set -euo pipefail

cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export DEBIAN_FRONTEND=noninteractive

# Package -> why the tests need it.
PACKAGES=(
  opensc                     # pkcs11-tool
  libengine-pkcs11-openssl   # libp11 engine for OpenSSL 3 (openssl CLI, osslsigncode)
  osslsigncode               # Authenticode signing through PKCS#11
  openssl                    # verifies every signature the tools produce
  default-jdk-headless       # jarsigner, keytool, jar (SunPKCS11)
  gcc                        # C examples
  g++                        # the vendor header must compile as C++ too
  make
  libc6-dev
  libssl-dev                 # the emulator's openssl crate
  pkg-config
  valgrind                   # leak checks of the C examples
  softhsm2                   # benchmark baseline
  libp11-kit-dev             # pkcs11.h (/usr/include/p11-kit-1/p11-kit/pkcs11.h) for the C examples
)

section() { printf '\n==== %s ====\n' "$*"; }

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  if [ "$status" != "installed" ]; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  section "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null; then
    SUDO=(sudo -n)   # -n: fail instead of prompting
  else
    echo "error: missing packages (${missing[*]}) and not root, and sudo is not available" >&2
    exit 1
  fi
  "${SUDO[@]}" apt-get update -q
  if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "error: apt-get install failed for: ${missing[*]}" >&2
    exit 1
  fi
  # apt-get can succeed without installing a package it resolved differently; check each one.
  for p in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
      echo "error: Debian package $p could not be installed" >&2
      exit 1
    fi
  done
else
  section "Debian packages: all ${#PACKAGES[@]} present"
fi

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found; install Rust (>= 1.80) with rustup: https://rustup.rs" >&2
  exit 1
fi

section "cargo test --workspace --locked"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# One closing line over every test binary (cargo prints one "test result" line per binary).
summary=$(awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
               END { printf "tests: %d passed, %d failed\n", p, f }' "$log")
section "summary"
echo "$summary"
exit "$rc"

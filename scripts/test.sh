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
  # The signing tools of tests/tools (README, "Tools"):
  openssh-client             # ssh-keygen -D / -Y sign / -Y verify, ssh-agent, ssh-add -s
  git                        # git commit -S with gpg.format=ssh, git verify-commit
  p11-kit                    # p11-kit list-modules: the module file finds the module
  gnutls-bin                 # p11tool, certtool (GnuTLS through p11-kit)
  libnss3-tools              # modutil, certutil (NSS)
  sbsigntool                 # sbsign --engine pkcs11, sbverify (UEFI Secure Boot)
  util-linux                 # setpriv: p11-kit reads no per-user module files for root
  pkcs11-provider            # OpenSSL 3 provider for PKCS#11 (Debian 12: from bookworm-backports)
  dpkg-dev                   # dpkg-architecture, dpkg-shlibdeps (scripts/package.sh)
)

section() { printf '\n==== %s ====\n' "$*"; }

# Whether apt knows a version of package $1 to install.
has_candidate() {
  local c
  c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
  [ -n "$c" ] && [ "$c" != "(none)" ]
}

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
  # pkcs11-provider is not in Debian 12 (bookworm); bookworm-backports has it (1.0). Add
  # backports only when the package is missing and no configured source offers it, so machines
  # whose release has it (Debian 13, Ubuntu 24.04) are left alone, and take only that package
  # from there (pkg/release): backports are never installed unless asked for (pin priority 100).
  install=("${missing[@]}")
  if [[ " ${missing[*]} " == *" pkcs11-provider "* ]] && ! has_candidate pkcs11-provider; then
    codename=$(. /etc/os-release && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}" || true)
    if [ -n "$codename" ]; then
      list=/etc/apt/sources.list.d/$codename-backports.sources
      echo "adding $codename-backports ($list) for pkcs11-provider"
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$codename" | "${SUDO[@]}" tee "$list" >/dev/null
      "${SUDO[@]}" apt-get update -q
      install=("${install[@]/#pkcs11-provider/pkcs11-provider/$codename-backports}")
    fi
  fi
  if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${install[@]}"; then
    echo "error: apt-get install failed for: ${install[*]}" >&2
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

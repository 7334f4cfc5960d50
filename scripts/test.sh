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
  osslsigncode               # Authenticode signing through PKCS#11 (Debian 12: from bookworm-backports)
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

# The oldest version that works, for packages whose Debian 12 (bookworm) version does not; with
# nothing recent enough in the configured sources, the package comes from bookworm-backports.
#   osslsigncode     bookworm's 2.5 cannot load libp11's engine ("Failed to set 'dynamic'
#                    engine"); bookworm-backports has 2.9
#   pkcs11-provider  not in bookworm at all; bookworm-backports has 1.0
declare -A MIN_VERSION=([osslsigncode]=2.6 [pkcs11-provider]=0.1)

section() { printf '\n==== %s ====\n' "$*"; }

# The version apt would install of package $1 ("" if none).
candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" { print $2 }'
}

# Whether version $2 of package $1 is recent enough.
recent_enough() {
  [ -n "$2" ] && { [ -z "${MIN_VERSION[$1]:-}" ] || dpkg --compare-versions "$2" ge "${MIN_VERSION[$1]}"; }
}

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  version=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
  if [ "$status" != "installed" ] || ! recent_enough "$p" "$version"; then
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
  # Backports only for a package that needs them, and only that package from there
  # (pkg/release): backports are never installed unless asked for (pin priority 100), so adding
  # the source changes nothing else. Releases that have recent enough versions (Debian 13,
  # Ubuntu 24.04) are left alone.
  install=()
  for p in "${missing[@]}"; do
    if recent_enough "$p" "$(candidate "$p")"; then
      install+=("$p")
      continue
    fi
    codename=$(. /etc/os-release && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}" || true)
    if [ -z "$codename" ]; then
      echo "error: no recent enough version of $p (at least ${MIN_VERSION[$p]}) in the apt sources" >&2
      exit 1
    fi
    list=/etc/apt/sources.list.d/$codename-backports.sources
    if [ ! -f "$list" ]; then
      echo "adding $codename-backports ($list) for $p"
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$codename" | "${SUDO[@]}" tee "$list" >/dev/null
      "${SUDO[@]}" apt-get update -q
    fi
    install+=("$p/$codename-backports")
  done
  if ! "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${install[@]}"; then
    echo "error: apt-get install failed for: ${install[*]}" >&2
    exit 1
  fi
  # apt-get can succeed without installing a package it resolved differently; check each one.
  for p in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    version=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
    if [ "$status" != "installed" ] || ! recent_enough "$p" "$version"; then
      echo "error: Debian package $p could not be installed (have: ${version:-none})" >&2
      exit 1
    fi
  done
else
  section "Debian packages: all ${#PACKAGES[@]} present"
fi

if ! command -v cargo >/dev/null; then
  echo "error: cargo not found; install Rust (>= 1.87) with rustup: https://rustup.rs" >&2
  exit 1
fi

# Every tool is installed above, so a tool test that finds one missing fails instead of skipping
# (tests/tools/provider.rs may skip only outside this script).
export TSB_TOOLS_REQUIRE_ALL=1

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

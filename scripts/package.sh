#!/usr/bin/env bash
# Builds the Debian package of the module, tsb-pkcs11-doctor and tsb-approve:
#
#   scripts/package.sh      ->  target/debian/tsb-pkcs11_<version>-1_<arch>.deb
#
# Install it with `sudo apt-get install ./target/debian/tsb-pkcs11_*.deb`. What goes where, and
# why, is in README.md ("Install"); the package metadata is [package.metadata.deb] in Cargo.toml.
#
# Needs Debian or Ubuntu (dpkg-dev, binutils) and cargo. Installs cargo-deb with
# `cargo install --locked` when it is missing (about 2 minutes on 2 cores; see README for why
# cargo-deb). Prints the path of the package as its last line.
set -euo pipefail

cd "$(dirname "$0")/.."

# cargo-deb writes the control file, the md5sums, the copyright file from LICENSE and the
# shared-library dependencies (dpkg-shlibdeps); pinned so that every build makes the same package.
CARGO_DEB_VERSION=3.8.0

section() { printf '\n==== %s ====\n' "$*"; }

for t in dpkg-architecture dpkg-shlibdeps strip; do
  if ! command -v "$t" >/dev/null; then
    echo "error: $t not found: install the Debian packages dpkg-dev and binutils" >&2
    exit 1
  fi
done

if [ "$(cargo deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  section "cargo install cargo-deb $CARGO_DEB_VERSION"
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi

target=${CARGO_TARGET_DIR:-target}
# The multiarch triplet of the machine the package is for (x86_64-linux-gnu, aarch64-linux-gnu, ...):
# Debian's PKCS#11 module directory is /usr/lib/<triplet>/pkcs11/, p11-kit's default module path.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

section "cargo build --release (module, tsb-pkcs11-doctor and tsb-approve)"
cargo build --release --locked -p tsb-pkcs11 -p tsb-approve

# cargo-deb cannot compute a destination from dpkg-architecture, so the module is staged under
# its final path and Cargo.toml's glob asset takes it from there (see the comment there).
# cargo-deb strips only what it builds itself: strip the staged copy here.
root=target/package-root
rm -rf "$root"
install -d "$root/usr/lib/$multiarch/pkcs11"
install -m 0644 "$target/release/libtsb_pkcs11.so" "$root/usr/lib/$multiarch/pkcs11/libtsb_pkcs11.so"
strip --strip-unneeded "$root/usr/lib/$multiarch/pkcs11/libtsb_pkcs11.so"

section "cargo deb"
rm -f "$target"/debian/tsb-pkcs11_*.deb
cargo deb -p tsb-pkcs11 --no-build
deb=$(ls "$target"/debian/tsb-pkcs11_*.deb)

section "package contents"
dpkg-deb --info "$deb"
listing=$(dpkg-deb --contents "$deb")
echo "$listing"
# The files the README promises, and none that must not be there.
for f in "./usr/lib/$multiarch/pkcs11/libtsb_pkcs11.so" \
         ./usr/share/p11-kit/modules/tsb-pkcs11.module \
         ./usr/bin/tsb-approve \
         ./usr/bin/tsb-pkcs11-doctor \
         ./usr/share/doc/tsb-pkcs11/examples/config.json \
         ./usr/share/doc/tsb-pkcs11/README.md \
         ./usr/share/doc/tsb-pkcs11/copyright; do
  if ! grep -q " $f\$" <<<"$listing"; then
    echo "error: $deb lacks $f" >&2
    exit 1
  fi
done
if grep -E ' \./etc/| \./usr/bin/tsb-emulator$' <<<"$listing"; then
  echo "error: $deb must not install an active configuration or the emulator" >&2
  exit 1
fi
echo "$deb"

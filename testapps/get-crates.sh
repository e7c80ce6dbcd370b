#!/usr/bin/env bash
# get-crates.sh - offline Rust crate sources + tools for the rustscope test apps, from Debian packages
# (crates.io is not needed). Adapted from the team's get-rust-crates.sh.
#
# Usage: testapps/get-crates.sh [DEST]
#   DEST  default ${RUSTSCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustscope}/crates
# Env:  MIRROR (Debian mirror; default: the one in this system's apt sources), JOBS (parallel downloads,
#       default 8), REFRESH=1 (re-fetch the apt lists and redo everything),
#       CRATE_PKGS / BOOKWORM_CRATE_PKGS (root librust-*-dev packages), EXTRA_PKGS (appended to trixie's)
#
# Result (prints DEST/cargo-config.toml on stdout):
#   DEST/root/usr/share/cargo/registry/           trixie crates: axum 0.7, hyper 1.x, tonic 0.12, reqwest 0.12..
#   DEST/root-bookworm/usr/share/cargo/registry/  bookworm crates: hyper 0.14, reqwest 0.11, tokio 1.24
#   DEST/cargo-config.toml, DEST/cargo-config-bookworm.toml   cargo --config files (offline, directory source)
#   DEST/bin/protoc        bookworm protoc 3.21 (wrapper; PROTOC is set in the cargo configs)
#   DEST/bin/rustc-1.85    bookworm rustc-web 1.85 (wrapper; use as RUSTC= with the host cargo)
#   DEST/packages-*.txt    the exact package=version lists (part of build.sh's cache key)
# Never touches the system's apt config or dpkg database: private apt lists, an empty dpkg status file,
# and dpkg -x only. Re-runs with nothing changed return immediately.
set -euo pipefail

CACHE=${RUSTSCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustscope}
DEST=$CACHE/crates
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,20p' "$0"; exit 0;;
    -*) echo "unknown option $1" >&2; exit 2;;
    *) DEST="$1"; shift;;
  esac
done
mkdir -p "$DEST"; DEST=$(cd "$DEST" && pwd)
JOBS=${JOBS:-8}
CRATE_PKGS=${CRATE_PKGS:-"librust-axum-dev librust-tokio-dev librust-hyper-dev librust-hyper-util-dev
  librust-http-body-util-dev librust-http-dev librust-tonic-dev librust-tonic-build-dev librust-prost-dev
  librust-prost-build-dev librust-reqwest-dev librust-serde-dev librust-serde-json-dev librust-tower-dev
  librust-bytes-dev librust-futures-dev librust-tokio-stream-dev"}
CRATE_PKGS="$CRATE_PKGS ${EXTRA_PKGS:-}"
BOOKWORM_CRATE_PKGS=${BOOKWORM_CRATE_PKGS:-"librust-hyper-dev librust-tokio-dev librust-reqwest-dev
  librust-h2-dev librust-serde-dev librust-serde-json-dev librust-bytes-dev librust-futures-dev"}

log() { printf '[get-crates %(%T)T] %s\n' -1 "$*" >&2; }

# ---- host basics (only installed if missing; the only use of the system's apt) ----
need_pkgs=()
command -v curl >/dev/null || command -v wget >/dev/null || need_pkgs+=(curl)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need_pkgs+=(ca-certificates)
command -v dpkg-deb >/dev/null || need_pkgs+=(dpkg)
command -v apt-get >/dev/null || { echo "get-crates: apt-get is required (Debian/Ubuntu host)" >&2; exit 1; }
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need_pkgs+=(debian-archive-keyring)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing missing host packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}" >&2
fi

# Debian mirror URI as configured in this system's apt sources
MIRROR=${MIRROR:-$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$';
            grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -E '/debian/?$'; } | head -1 || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

state_key() {  # everything that determines the result (package lists, this script, apt lists)
  { echo "$CRATE_PKGS|$BOOKWORM_CRATE_PKGS|$MIRROR"; cat "$0"
    cat "$DEST"/apt-*/lists/*_InRelease 2>/dev/null; } | sha256sum | cut -d' ' -f1
}
# fast path: nothing changed since the last successful run
if [ "${REFRESH:-0}" != 1 ] && [ -f "$DEST/.complete" ] && [ -f "$DEST/cargo-config.toml" ] \
   && [ "$(cat "$DEST/.complete")" = "$(state_key)" ]; then
  log "up to date ($DEST)"; echo "$DEST/cargo-config.toml"; exit 0
fi
rm -f "$DEST/.complete"
T0=$(date +%s)

# private apt environment for one suite: apt_env <name> <suite>  -> sets APTOPT
apt_env() {
  local name=$1 suite=$2
  local d="$DEST/apt-$name"
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/etc"
  : > "$d/status.empty"       # empty dpkg status: resolve the FULL dependency closure
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    "$MIRROR" "$suite" "$KEYRING" > "$d/etc/debian.sources"   # deb822 needs the .sources suffix
  APTOPT=(-o "Dir::Etc::SourceList=$d/etc/debian.sources" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$d/lists" -o "Dir::State::status=$d/status.empty" -o "Dir::Cache=$d/cache"
          -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
          -o Debug::NoLocking=1 -o "APT::Sandbox::User=$(id -un)" -o Acquire::Languages=none)
  # lists are fetched once (deterministic, fast re-runs); REFRESH=1 forces an update
  if [ "${REFRESH:-0}" = 1 ] || [ -z "$(find "$d/lists" -maxdepth 1 -name '*_InRelease' 2>/dev/null)" ]; then
    log "apt update ($name: $suite from $MIRROR)"
    apt-get "${APTOPT[@]}" -qq update >&2
  fi
}

existing() {  # existing <pkg...> -> only the packages this suite has (optional ones may be missing)
  local p; for p in "$@"; do
    if apt-cache "${APTOPT[@]}" show "$p" >/dev/null 2>&1; then echo "$p"; else log "not in this suite: $p"; fi
  done
}
# resolve <pkgs...> -> librust-* part of the dependency closure, as pkg=version
resolve_librust() {
  apt-get "${APTOPT[@]}" -s --no-install-recommends install "$@" \
    | awk '$1=="Inst" && $2 ~ /^librust-/ {v=$3; gsub(/[()]/,"",v); print $2"="v}' | sort
}
candidates() {  # candidates <pkg...> -> pkg=candidate-version (no dependency resolution)
  local p; for p in "$@"; do echo "$p=$(apt-cache "${APTOPT[@]}" policy "$p" | awk '/Candidate:/{print $2}')"; done
}

# fetch_debs <list of pkg=ver> <debdir>: parallel download of missing .debs, all SHA256-verified
fetch_debs() {
  local list=$1 debdir=$2
  local uris="$debdir/.uris" need="$debdir/.need"
  mkdir -p "$debdir"
  # shellcheck disable=SC2046
  apt-get "${APTOPT[@]}" download --print-uris $(cat "$list") > "$uris"
  : > "$need"
  while read -r url file size hash; do
    [ -f "$debdir/$file" ] && [ "$(stat -c %s "$debdir/$file")" = "$size" ] && continue
    printf '%s %s\n' "${url//\'/}" "$debdir/$file" >> "$need"
  done < "$uris"
  if [ -s "$need" ]; then
    log "downloading $(wc -l < "$need") .debs ($JOBS parallel)"
    # curl -4 first: AAAA lookups can stall ~5 s per connection
    if command -v curl >/dev/null; then
      xargs -P "$JOBS" -n 2 sh -c '{ curl -4 -fsS --retry 3 -o "$1.part" "$0" 2>/dev/null ||
                                     curl -fsS --retry 3 -o "$1.part" "$0"; } && mv "$1.part" "$1"' < "$need"
    else
      xargs -P "$JOBS" -n 2 sh -c 'wget -q -t 3 -O "$1.part" "$0" && mv "$1.part" "$1"' < "$need"
    fi
  fi
  awk -v d="$debdir" '{sub(/^SHA256:/,"",$4); print $4"  "d"/"$2}' "$uris" \
    | sha256sum --quiet -c - >&2 || { log "checksum mismatch in $debdir"; exit 1; }
}

# unpack_debs <debdir> <root>: dpkg -x every .deb listed in .uris exactly once (stamp per .deb)
unpack_debs() {
  local debdir=$1 root=$2
  local stamp="$root/.unpacked" n=0
  mkdir -p "$stamp"
  while read -r url file size hash; do
    [ -e "$stamp/$file" ] && continue
    dpkg-deb -x "$debdir/$file" "$root"; touch "$stamp/$file"; n=$((n+1))
  done < "$debdir/.uris"
  [ $n -eq 0 ] || log "unpacked $n .debs into $root"
}

fix_checksums() {   # cargo directory sources need <crate>/.cargo-checksum.json (Debian ships them)
  local reg=$1 c n=0
  for c in "$reg"/*/; do
    [ -f "$c/Cargo.toml" ] && [ ! -f "$c/.cargo-checksum.json" ] || continue
    echo '{"files":{}}' > "$c/.cargo-checksum.json"; n=$((n+1))
  done
  [ $n -eq 0 ] || log "wrote $n missing .cargo-checksum.json in $reg"
}

write_config() {  # write_config <registry dir> <file>
  cat > "$2.tmp" <<EOF
# generated by testapps/get-crates.sh - Debian packaged crates as a cargo directory source
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "$1"

[net]
offline = true

[build]
jobs = 2

[env]
PROTOC = "$DEST/bin/protoc"
EOF
  mv "$2.tmp" "$2"
}

# ---- 1. trixie crate sources (axum 0.7, hyper 1.x, tonic 0.12, reqwest 0.12, tokio 1.4x, ...) ----
apt_env trixie trixie
# shellcheck disable=SC2086
PKGS=$(existing $CRATE_PKGS)
# shellcheck disable=SC2086
resolve_librust $PKGS > "$DEST/packages-trixie.txt"
log "$(wc -l < "$DEST/packages-trixie.txt") trixie librust packages in closure"
fetch_debs "$DEST/packages-trixie.txt" "$DEST/debs-trixie"
unpack_debs "$DEST/debs-trixie" "$DEST/root"
REG="$DEST/root/usr/share/cargo/registry"
fix_checksums "$REG"
write_config "$REG" "$DEST/cargo-config.toml"

# ---- 2. bookworm: protoc 3.21 (trixie's needs glibc 2.38), rustc-web 1.85, hyper 0.14/reqwest 0.11 ----
apt_env bookworm bookworm
candidates protobuf-compiler libprotoc32 libprotobuf32 libllvm19 > "$DEST/packages-bookworm-tools.txt"
# rustc-web: pin the newest 1.85 build (other bookworm updates carry newer rustc-web needing newer LLVM)
RUSTC_WEB_VER=$(apt-cache "${APTOPT[@]}" madison rustc-web | awk '{print $3}' | grep -E '^1\.85\.' | sort -V | tail -1)
[ -n "$RUSTC_WEB_VER" ] || { log "no rustc-web 1.85 in bookworm"; exit 1; }
printf '%s='"$RUSTC_WEB_VER"'\n' rustc-web libstd-rust-web-1.85 libstd-rust-web-dev >> "$DEST/packages-bookworm-tools.txt"
fetch_debs "$DEST/packages-bookworm-tools.txt" "$DEST/debs-bookworm-tools"
unpack_debs "$DEST/debs-bookworm-tools" "$DEST/tools"
mkdir -p "$DEST/bin"
for t in protoc:protoc rustc-1.85:rustc; do
  # rustc-web's sysroot is found relative to the binary (tools/usr/lib/rustlib); it needs libLLVM-19 only
  cat > "$DEST/bin/${t%%:*}" <<EOF
#!/bin/sh
LD_LIBRARY_PATH="$DEST/tools/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$DEST/tools/usr/bin/${t#*:}" "\$@"
EOF
  chmod +x "$DEST/bin/${t%%:*}"
done
"$DEST/bin/protoc" --version >/dev/null
"$DEST/bin/rustc-1.85" -V >&2

# shellcheck disable=SC2086
PKGS=$(existing $BOOKWORM_CRATE_PKGS)
# shellcheck disable=SC2086
resolve_librust $PKGS > "$DEST/packages-bookworm.txt"
log "$(wc -l < "$DEST/packages-bookworm.txt") bookworm librust packages in closure"
fetch_debs "$DEST/packages-bookworm.txt" "$DEST/debs-bookworm"
unpack_debs "$DEST/debs-bookworm" "$DEST/root-bookworm"
fix_checksums "$DEST/root-bookworm/usr/share/cargo/registry"
write_config "$DEST/root-bookworm/usr/share/cargo/registry" "$DEST/cargo-config-bookworm.toml"

state_key > "$DEST/.complete"
log "done in $(( $(date +%s) - T0 ))s; crates: $(ls "$REG" | wc -l) trixie, $(ls "$DEST/root-bookworm/usr/share/cargo/registry" | wc -l) bookworm; disk: $(du -sh "$DEST" | cut -f1)"
echo "$DEST/cargo-config.toml"

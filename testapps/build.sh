#!/usr/bin/env bash
# build.sh - build every rustscope test app variant offline and publish the binaries in a cache.
#
# Usage: testapps/build.sh            (prints the output dir on stdout; logs go to stderr)
# Env:   RUSTSCOPE_CACHE  cache root (default ${XDG_CACHE_HOME:-~/.cache}/rustscope)
#        CARGO            cargo to use (default: cargo in PATH; its rustc is the default toolchain)
#        FORCE=1          rebuild (cargo still reuses its incremental state) even if the key exists
#
# Layout (nothing big is written into the clone):
#   $CACHE/crates/                       Debian crate sources, protoc, rustc 1.85 (get-crates.sh)
#   $CACHE/target/{main,rustc185,v0,legacy}/   cargo target dirs
#   $CACHE/apps/<key>/<variant>/<app>    published binaries; testapps/bin -> $CACHE/apps/<key>
# Variants: release release-strip release-lto debug release-rustc185 release-v0   (main workspace)
#           legacy-release                                                        (legacy workspace)
#           legacy-release                                                        (legacy-tls workspace)
#           release release-strip release-lto release-rustc185 release-split     (tls workspace)
#           release release-strip release-lto release-rustc185 release-static    (native-tls workspace)
# <key> = sha256 of every file under testapps/ (except target/, .cargo/, bin, Cargo.lock, docs, smoke.sh), the
# `cargo -V` / `rustc -V` of both toolchains and Debian's exact package lists. When
# $CACHE/apps/<key> is complete, the script only re-points testapps/bin (no cargo invocation).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${RUSTSCOPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rustscope}
mkdir -p "$CACHE"; CACHE=$(cd "$CACHE" && pwd)
CARGO=${CARGO:-cargo}
CRATES=$CACHE/crates
TARGET=$CACHE/target
MAIN_APPS="axum-server hyper-server tonic-server tonic-client reqwest-client"
LEGACY_APPS="hyper014-server reqwest011-client"
LEGACY_TLS_APPS="hyper014-tls-server reqwest011-native-client"
TLS_APPS="axum-tls-server reqwest-tls-client tonic-tls-server tonic-tls-client"
NATIVE_APPS="reqwest-native-client"

log() { printf '[build %(%T)T] %s\n' -1 "$*" >&2; }

# the build environment is fully controlled by this script
unset RUSTC RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET \
      CARGO_PROFILE_RELEASE_DEBUG CARGO_PROFILE_RELEASE_STRIP CARGO_PROFILE_RELEASE_LTO

# one build at a time per cache
exec 9>"$CACHE/.build.lock"
flock 9

# 1. crate sources + tools (fast no-op when up to date)
bash "$HERE/get-crates.sh" "$CRATES" >/dev/null
RUSTC_185=$CRATES/bin/rustc-1.85

# 2. cargo configs (gitignored; also make plain `cargo build` work in testapps/, legacy/, legacy-tls/)
put() {  # put <src> <dst>: copy only when different (keeps mtimes stable)
  mkdir -p "$(dirname "$2")"
  cmp -s "$1" "$2" 2>/dev/null || cp "$1" "$2"
}
put "$CRATES/cargo-config.toml" "$HERE/.cargo/config.toml"
put "$CRATES/cargo-config-bookworm.toml" "$HERE/legacy/.cargo/config.toml"
put "$CRATES/cargo-config-bookworm.toml" "$HERE/legacy-tls/.cargo/config.toml"

# 3. cache key
key_inputs() {
  (cd "$HERE" && find . \( -name target -o -name .cargo -o -path ./bin \) -prune -o -type f ! -name Cargo.lock ! -name '*.md' ! -name smoke.sh -print0 \
     | LC_ALL=C sort -z | xargs -0 sha256sum)
  echo "cargo: $("$CARGO" -V)"
  echo "rustc: $(cd "$HERE" && rustc -V)"
  echo "rustc-1.85: $("$RUSTC_185" -V)"
  cat "$CRATES"/packages-trixie.txt "$CRATES"/packages-bookworm.txt "$CRATES"/packages-bookworm-tools.txt
}
KEY_INPUTS=$(key_inputs)
KEY=$(printf '%s\n' "$KEY_INPUTS" | sha256sum | cut -c1-16)
OUT=$CACHE/apps/$KEY

publish_link() {
  ln -sfn "$OUT" "$HERE/bin.tmp" && mv -T "$HERE/bin.tmp" "$HERE/bin"
  echo "$OUT"
}
if [ "${FORCE:-0}" != 1 ] && [ -f "$OUT/.complete" ]; then
  log "up to date: key $KEY"
  publish_link; exit 0
fi

# 4. build every variant
T0=$(date +%s)
step() {  # step <label> <dir> <cargo args...>   (env vars given by the caller)
  local label=$1 dir=$2; shift 2
  local t=$(date +%s)
  log "cargo build $label: $*"
  (cd "$dir" && "$CARGO" build "$@")
  log "  $label: $(( $(date +%s) - t ))s"
}
step release        "$HERE"        --profile release       --target-dir "$TARGET/main"
step release-strip  "$HERE"        --profile release-strip --target-dir "$TARGET/main"
step release-lto    "$HERE"        --profile release-lto   --target-dir "$TARGET/main"
step debug          "$HERE"        --profile dev           --target-dir "$TARGET/main"
RUSTC="$RUSTC_185" \
step release-rustc185 "$HERE"      --profile release       --target-dir "$TARGET/rustc185"
RUSTFLAGS="-C symbol-mangling-version=v0" \
step release-v0     "$HERE"        --profile release       --target-dir "$TARGET/v0"
step legacy-release "$HERE/legacy" --profile release       --target-dir "$TARGET/legacy"
step legacy-tls-release "$HERE/legacy-tls" --profile release --target-dir "$TARGET/legacy-tls"
# the TLS apps: a workspace of their own (see tls/Cargo.toml), published beside the main apps
step tls-release       "$HERE/tls" --profile release       --target-dir "$TARGET/tls"
step tls-release-strip "$HERE/tls" --profile release-strip --target-dir "$TARGET/tls"
step tls-release-lto   "$HERE/tls" --profile release-lto   --target-dir "$TARGET/tls"
RUSTC="$RUSTC_185" \
step tls-release-rustc185 "$HERE/tls" --profile release    --target-dir "$TARGET/tls-rustc185"
# the native-tls (OpenSSL) apps: a workspace of their own too (see native-tls/Cargo.toml)
step native-release       "$HERE/native-tls" --profile release       --target-dir "$TARGET/native"
step native-release-strip "$HERE/native-tls" --profile release-strip --target-dir "$TARGET/native"
step native-release-lto   "$HERE/native-tls" --profile release-lto   --target-dir "$TARGET/native"
RUSTC="$RUSTC_185" \
step native-release-rustc185 "$HERE/native-tls" --profile release    --target-dir "$TARGET/native-rustc185"
# OpenSSL linked statically (openssl-sys: the system's libssl.a and libcrypto.a), symbols kept
OPENSSL_STATIC=1 OPENSSL_LIB_DIR=$(pkg-config --variable=libdir openssl) OPENSSL_INCLUDE_DIR=$(pkg-config --variable=includedir openssl) \
step native-release-static "$HERE/native-tls" --profile release     --target-dir "$TARGET/native-static"

# 5. publish: $CACHE/apps/<key>/<variant>/<app>
mkdir -p "$CACHE/apps"
TMP=$(mktemp -d "$CACHE/apps/.tmp.XXXXXX")
copy() {  # copy <variant> <cargo output dir> <apps...>
  local v=$1 src=$2; shift 2
  mkdir -p "$TMP/$v"
  for a in "$@"; do cp -p "$src/$a" "$TMP/$v/$a"; done
}
split() {  # split <variant> <cargo output dir> <apps...>: stripped, with the debug file beside it
  local v=$1 src=$2; shift 2  # (.gnu_debuglink), as a distribution's -dbgsym package would ship it
  mkdir -p "$TMP/$v"
  for a in "$@"; do
    objcopy --only-keep-debug "$src/$a" "$TMP/$v/$a.debug"
    (cd "$TMP/$v" && objcopy --strip-all --add-gnu-debuglink="$a.debug" "$src/$a" "$a")
  done
}
copy release          "$TARGET/main/release"       $MAIN_APPS
copy release-strip    "$TARGET/main/release-strip" $MAIN_APPS
copy release-lto      "$TARGET/main/release-lto"   $MAIN_APPS
copy debug            "$TARGET/main/debug"         $MAIN_APPS
copy release-rustc185 "$TARGET/rustc185/release"   $MAIN_APPS
copy release-v0       "$TARGET/v0/release"         $MAIN_APPS
copy legacy-release   "$TARGET/legacy/release"     $LEGACY_APPS
copy legacy-release   "$TARGET/legacy-tls/release" $LEGACY_TLS_APPS
copy release          "$TARGET/tls/release"        $TLS_APPS
copy release-strip    "$TARGET/tls/release-strip"  $TLS_APPS
copy release-lto      "$TARGET/tls/release-lto"    $TLS_APPS
copy release-rustc185 "$TARGET/tls-rustc185/release" $TLS_APPS
split release-split   "$TARGET/tls/release"        $TLS_APPS
copy release          "$TARGET/native/release"        $NATIVE_APPS
copy release-strip    "$TARGET/native/release-strip"  $NATIVE_APPS
copy release-lto      "$TARGET/native/release-lto"    $NATIVE_APPS
copy release-rustc185 "$TARGET/native-rustc185/release" $NATIVE_APPS
copy release-static   "$TARGET/native-static/release"  $NATIVE_APPS
printf '%s\n' "$KEY_INPUTS" > "$TMP/KEY_INPUTS"
date -u +%FT%TZ > "$TMP/.complete"
rm -rf "$OUT"; mv -T "$TMP" "$OUT"
log "built all variants in $(( $(date +%s) - T0 ))s -> $OUT"
# keep the two newest sets of binaries (about 300 MB each)
ls -1dt "$CACHE"/apps/*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf
publish_link

#!/bin/sh
# Rebuilds ../tiny-hyper: a 9 KB no_std Rust program whose crate is named
# "hyper", so its symbols look like hyper's (<hyper::proto::h1::role::Server
# as hyper::proto::h1::Http1Transaction>::parse, two monomorphizations of
# Dispatcher<D>::poll_catch) and its panic location is
# hyper-1.5.2/src/main.rs. A real rustc output, small enough to be a fuzz
# seed and a fixture for the probe matcher. Built with rustc 1.95.0.
set -eu
cd "$(dirname "$0")"
rustc --edition 2021 --crate-name hyper -C panic=abort -C opt-level=2 \
  -C strip=debuginfo -C force-unwind-tables=yes \
  -C link-arg=-nostartfiles -C link-arg=-Wl,--build-id=sha1 \
  hyper-1.5.2/src/main.rs -o ../tiny-hyper

#!/usr/bin/env bash
# smoke.sh [VARIANT_DIR]: start the servers of one variant dir (default testapps/bin/release), check
# every route with curl and run the clients against them. Needs curl. Exit 0 when everything passed.
#   for v in testapps/bin/*/; do testapps/smoke.sh "$v"; done
set -uo pipefail
D=${1:-$(dirname "$0")/bin/release}; FAIL=0
W=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT
start() {  # start <bin> [env...] -> sets ADDR
  local bin=$1; shift
  local out; out=$(mktemp -p "$W")
  env "$@" "$D/$bin" --listen 127.0.0.1:0 > "$out" 2>&1 &
  pids+=($!)
  for i in $(seq 100); do grep -q '^listening on ' "$out" && break; sleep 0.05; done
  ADDR=$(sed -n 's/^listening on //p' "$out" | head -1)
  [ "$(wc -l < "$out")" = 1 ] || { echo "FAIL $bin: stdout: $(cat "$out")"; FAIL=1; }
}
check() {  # check <desc> <expected> <actual>
  if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: want [$2] got [$3]"; FAIL=1; fi
}
C="curl -s -m 10"
head -c 8000000 /dev/urandom > $W/in8m
if [ -x "$D/tonic-server" ]; then start tonic-server; G=$ADDR; fi
if [ -x "$D/hyper-server" ]; then start hyper-server; H=$ADDR; fi
if [ -x "$D/hyper014-server" ]; then start hyper014-server; H=$ADDR; fi
if [ -x "$D/axum-server" ]; then
  start axum-server DOWNSTREAM_URL=http://$H GRPC_ADDR=http://$G; A=$ADDR
  check "axum health" "200 ok" "$($C -w '%{http_code}' -o $W/o http://$A/health; echo " $(cat $W/o)")"
  check "axum users/7" '200 {"id":"7","name":"user-7"}' "$($C -w '%{http_code}' -o $W/o http://$A/users/7; echo " $(cat $W/o)")"
  check "axum users/0" '404 {"error":"user not found","id":"0"}' "$($C -w '%{http_code}' -o $W/o http://$A/users/0; echo " $(cat $W/o)")"
  check "axum echo 8MB" "200 $(sha256sum < $W/in8m)" "$($C -w '%{http_code}' -o $W/o --data-binary @$W/in8m http://$A/echo; echo " $(sha256sum < $W/o)")"
  check "axum echo small" "200 hello" "$($C -w '%{http_code}' -o $W/o -d hello http://$A/echo; echo " $(cat $W/o)")"
  check "axum echo >8MiB" "413" "$(head -c 9000000 /dev/zero | $C -w '%{http_code}' -o /dev/null --data-binary @- http://$A/echo)"
  check "axum slow" "200 slow" "$($C -w '%{http_code}' -o $W/o http://$A/slow; echo " $(cat $W/o)")"
  check "axum status/418" "418" "$($C -w '%{http_code}' -o /dev/null http://$A/status/418)"
  check "axum status/503" "503" "$($C -w '%{http_code}' -o /dev/null http://$A/status/503)"
  check "axum status/204" "204" "$($C -w '%{http_code}' -o /dev/null http://$A/status/204)"
  check "axum items/3" '200 {"id":"3","item":"item-3"}' "$($C -w '%{http_code}' -o $W/o http://$A/api/v1/items/3; echo " $(cat $W/o)")"
  check "axum orders" '201 {"bytes":9,"order_id":1}' "$($C -w '%{http_code}' -o $W/o -d '{"sku":1}' -H 'content-type: application/json' http://$A/api/v1/orders; echo " $(cat $W/o)")"
  check "axum chunked" "chunked 5" "$($C -D $W/h http://$A/chunked | grep -c chunk | sed 's/^/chunked /'; grep -qi 'transfer-encoding: chunked' $W/h || echo NOT-CHUNKED)"
  check "axum big" "200 1048576" "$($C -w '%{http_code} %{size_download}' -o /dev/null http://$A/big)"
  check "axum call/http/5" '200 {"body_len":10,"downstream_status":404}' "$($C -w '%{http_code}' -o $W/o http://$A/call/http/5; echo " $(cat $W/o)")"
  check "axum call/grpc/5" '200 {"id":"5","name":"user-5","payload_len":32}' "$($C -w '%{http_code}' -o $W/o http://$A/call/grpc/5; echo " $(cat $W/o)")"
  check "axum call/grpc/fail" '502' "$($C -w '%{http_code}' -o $W/o http://$A/call/grpc/fail)"
  start axum-server DOWNSTREAM_URL=http://127.0.0.1:1 GRPC_ADDR=http://127.0.0.1:1; A2=$ADDR
  check "axum call/http unreachable" '502' "$($C -w '%{http_code}' -o /dev/null http://$A2/call/http/1)"
  check "axum call/grpc unreachable" '502' "$($C -w '%{http_code}' -o /dev/null http://$A2/call/grpc/1)"
  check "axum unknown" '404' "$($C -w '%{http_code}' -o /dev/null http://$A/nope)"
  check "axum h2c" '200 2' "$($C --http2-prior-knowledge -w '%{http_code} %{http_version}' -o /dev/null http://$A/health)"
fi
for pfx in "" "--http2-prior-knowledge"; do
  n="hyper ${pfx:-h1}"
  check "$n health" "200 ok" "$($C $pfx -w '%{http_code}' -o $W/o http://$H/health; echo " $(cat $W/o)")"
  check "$n echo 8MB" "200 $(sha256sum < $W/in8m)" "$($C $pfx -w '%{http_code}' -o $W/o --data-binary @$W/in8m http://$H/echo; echo " $(sha256sum < $W/o)")"
  # (h2: the early 413 races with the client's upload, so only checked over HTTP/1.1)
  [ -n "$pfx" ] || check "$n echo >8MiB" "413" "$(head -c 9000000 /dev/zero | $C -w '%{http_code}' -o /dev/null --data-binary @- http://$H/echo)"
  check "$n slow" "200 slow" "$($C $pfx -w '%{http_code}' -o $W/o http://$H/slow; echo " $(cat $W/o)")"
  check "$n status/418" "418" "$($C $pfx -w '%{http_code}' -o /dev/null http://$H/status/418)"
  check "$n status/204" "204" "$($C $pfx -w '%{http_code}' -o /dev/null http://$H/status/204)"
  check "$n chunked" "5" "$($C $pfx http://$H/chunked | grep -c chunk)"
  check "$n big" "200 1048576" "$($C $pfx -w '%{http_code} %{size_download}' -o /dev/null http://$H/big)"
  check "$n 404" "404" "$($C $pfx -w '%{http_code}' -o /dev/null http://$H/nope)"
done
check "hyper h1 chunked TE" "1" "$($C -D - -o /dev/null http://$H/chunked | grep -ci 'transfer-encoding: chunked')"
if [ -x "$D/tonic-client" ]; then
  out=$("$D/tonic-client" --addr http://$G --count 50 --concurrency 4 --mix); rc=$?
  echo "     $out"; check "tonic-client rc" 0 $rc
fi
for c in reqwest-client reqwest011-client; do
  [ -x "$D/$c" ] || continue
  T=${A:-$H}
  out=$("$D/$c" --url http://$T/health --url http://$T/status/404 --count 200 --concurrency 8); rc=$?
  echo "     $out"; check "$c GET rc" 0 $rc
  out=$("$D/$c" --url http://$T/echo --method POST --body-size 100000 --count 20 --concurrency 2); rc=$?
  echo "     $out"; check "$c POST rc" 0 $rc
  out=$("$D/$c" --http2 --url http://$H/health --count 20); rc=$?
  echo "     $out"; check "$c h2c rc" 0 $rc
  out=$( { echo go; sleep 0.3; echo bye; } | "$D/$c" --wait --url http://$T/health --count 3 | tr '\n' '|'); check "$c --wait" "ready|done|" "$(echo "$out" | sed 's/[a-z0-9]*-client: [^|]*|//')"
done
# SIGTERM exits
kill -TERM "${pids[@]}"; sleep 0.3
for p in "${pids[@]}"; do wait $p; check "server pid $p SIGTERM exit" 0 $?; done
pids=()
[ $FAIL = 0 ] && echo "ALL OK ($D)" || echo "FAILURES ($D)"
exit $FAIL

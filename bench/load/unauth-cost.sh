#!/bin/bash
# Server CPU per request of calls without credentials vs with them, same server, same run (issue 19
# defect 4). Needs a build (npm run build) and h2load; prints µs of server CPU per request.
set -e
cd "$(dirname "$0")/../.."
PORT=18977
node dist/src/main.js --host 127.0.0.1 --port $PORT --store memory --api-password pw-unauth-bench --log-level warn > /dev/null 2>&1 &
PID=$!
sleep 3
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d)
# A gRPC envelope of GetPoolRequest{name: "default"}.
printf '\x00\x00\x00\x00\x09\x0a\x07default' > $TMP/getpool.bin
run() { # name, n, h2load args...
  local name=$1 n=$2; shift 2
  local a=$(cpu)
  h2load -n $n "$@" > $TMP/h2load-$name.txt 2>&1
  local b=$(cpu)
  local ok=$(grep -o '[0-9]* succeeded' $TMP/h2load-$name.txt | head -1)
  echo "$name: $(( (b-a) * 1000000 / TCK / n )) us/request ($ok)"
}
for round in 1 2; do
run grpc-unauth-getpool 40000 -c 4 -m 16 -H 'content-type: application/grpc' -H 'te: trailers' -d $TMP/getpool.bin http://127.0.0.1:$PORT/tokenpool.v1.TokenService/GetPool
run grpc-auth-getpool 40000 -c 4 -m 16 -H 'content-type: application/grpc' -H 'te: trailers' -H 'x-api-password: pw-unauth-bench' -d $TMP/getpool.bin http://127.0.0.1:$PORT/tokenpool.v1.TokenService/GetPool
run connect-h2-unauth 20000 -c 4 -m 16 -H 'content-type: application/proto' -d $TMP/getpool.bin http://127.0.0.1:$PORT/tokenpool.v1.TokenService/GetPool
done
kill $PID; wait $PID 2>/dev/null || true
rm -rf $TMP

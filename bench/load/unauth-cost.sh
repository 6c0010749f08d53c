#!/bin/bash
# Server CPU per request of calls without credentials vs with them, same server, same run (issue 19
# defect 4), next to the bare node:http2 floor (servers/bare-http2.ts: the raw stream API answering at
# once) measured in the same round. Needs a build (npm run build) and h2load; prints µs of server CPU
# per request and the load average around each round (the machine is shared: say so).
set -e
cd "$(dirname "$0")/../.."
PORT=18977
FLOOR_PORT=18978
node dist/src/main.js --host 127.0.0.1 --port $PORT --store memory --api-password pw-unauth-bench --log-level warn > /dev/null 2>&1 &
PID=$!
node --import tsx bench/load/servers/bare-http2.ts --host 127.0.0.1 --port $FLOOR_PORT > /dev/null 2>&1 &
FLOOR=$!
trap 'kill $PID $FLOOR 2>/dev/null || true' EXIT
sleep 3
TCK=$(getconf CLK_TCK)
TMP=$(mktemp -d)
# A gRPC envelope of GetPoolRequest{name: "default"}, and the bare message for Connect.
printf '\x00\x00\x00\x00\x09\x0a\x07default' > $TMP/getpool.bin
printf '\x0a\x07default' > $TMP/getpool.proto
# A 1 MiB body without credentials: received (drained unparsed), never decoded.
head -c 1048576 /dev/zero > $TMP/big.bin
run() { # name, pid, n, h2load args...
  local name=$1 pid=$2 n=$3; shift 3
  local a=$(awk '{print $14+$15}' /proc/$pid/stat)
  h2load -n $n "$@" > $TMP/h2load-$name.txt 2>&1
  local b=$(awk '{print $14+$15}' /proc/$pid/stat)
  # h2load counts a 401 as failed: the status codes tell the answers apart.
  local codes=$(grep -o 'status codes: .*' $TMP/h2load-$name.txt | head -1)
  echo "$name: $(( (b-a) * 1000000 / TCK / n )) us/request ($codes)"
}
GRPC=(-c 4 -m 16 -H 'content-type: application/grpc' -H 'te: trailers' -d $TMP/getpool.bin)
CONNECT=(-c 4 -m 16 -H 'content-type: application/proto' -d $TMP/getpool.proto)
URL=http://127.0.0.1:$PORT/tokenpool.v1.TokenService/GetPool
FLOOR_URL=http://127.0.0.1:$FLOOR_PORT/tokenpool.v1.TokenService/GetPool
for round in 1 2; do
echo "round $round, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run bare-http2-grpc $FLOOR 40000 "${GRPC[@]}" $FLOOR_URL
run grpc-unauth-getpool $PID 40000 "${GRPC[@]}" $URL
run grpc-auth-getpool $PID 40000 "${GRPC[@]}" -H 'x-api-password: pw-unauth-bench' $URL
run bare-http2-connect $FLOOR 20000 "${CONNECT[@]}" $FLOOR_URL
run connect-h2-unauth $PID 20000 "${CONNECT[@]}" $URL
run connect-h2-auth $PID 20000 "${CONNECT[@]}" -H 'x-api-password: pw-unauth-bench' $URL
run grpc-unauth-1mib $PID 200 -c 2 -m 1 -H 'content-type: application/grpc' -H 'te: trailers' -d $TMP/big.bin $URL
run connect-h2-unauth-1mib $PID 200 -c 2 -m 1 -H 'content-type: application/proto' -d $TMP/big.bin $URL
echo "round $round, load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
done
rm -rf $TMP

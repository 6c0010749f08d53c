#!/usr/bin/env bash
# Assign, keep alive and release a token of the default pool with curl and Connect JSON.
# Usage: TOKENPOOL_URL=http://127.0.0.1:8080 TOKENPOOL_PASSWORD=… examples/curl/assign-release.sh
set -euo pipefail
U="${TOKENPOOL_URL:-http://127.0.0.1:8080}/tokenpool.v1.TokenService"
H=(-sS --fail-with-body -H "x-api-password: ${TOKENPOOL_PASSWORD:?}" -H 'content-type: application/json')

lease=$(curl "${H[@]}" "$U/AssignToken" -d '{"pool":"default","owner":"curl-example"}')
echo "assign: $lease"
token=$(sed -E 's/.*"token":"([^"]+)".*/\1/' <<<"$lease")
generation=$(sed -E 's/.*"generation":"([0-9]+)".*/\1/' <<<"$lease")
echo "keepalive: $(curl "${H[@]}" "$U/KeepAlive" -d "{\"pool\":\"default\",\"tokens\":[\"$token\"]}")"
echo "release: $(curl "${H[@]}" "$U/ReleaseToken" -d "{\"pool\":\"default\",\"token\":\"$token\",\"generation\":\"$generation\"}")"

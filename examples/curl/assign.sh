#!/usr/bin/env bash
# The README's first call: lease a token of the default pool with curl and Connect JSON (unary).
# Usage: TOKENPOOL_URL=http://127.0.0.1:8080 TOKENPOOL_PASSWORD=… examples/curl/assign.sh
set -euo pipefail
curl -sS --fail-with-body -d '{"pool":"default","owner":"me"}' -H 'content-type: application/json' \
  -H "x-api-password: ${TOKENPOOL_PASSWORD:?}" "${TOKENPOOL_URL:-http://127.0.0.1:8080}/tokenpool.v1.TokenService/AssignToken"
echo

#!/usr/bin/env bash
# Streams lease events of a pool with curl (a Connect server stream): prints one JSON message a line.
# Usage: TOKENPOOL_URL=… TOKENPOOL_PASSWORD=… examples/curl/watch.sh [pool] [after-sequence]
# With an after-sequence, retained events after it are replayed first (how a watcher resumes).
set -euo pipefail
U="${TOKENPOOL_URL:-http://127.0.0.1:8080}/tokenpool.v1.TokenService"
BODY="{\"pool\":\"${1:-default}\",\"afterSequence\":\"${2:-0}\"}"
# Connect frames: a flag byte (0x02 marks the end-of-stream frame), a 4-byte big-endian length, the
# JSON. printf writes the length as one byte, which is enough for this request (under 256 bytes).
printf "\x00\x00\x00\x00\x$(printf %02x ${#BODY})$BODY" |
  curl -sSN -H "x-api-password: ${TOKENPOOL_PASSWORD:?}" -H 'content-type: application/connect+json' --data-binary @- "$U/WatchLeases" |
  perl -e 'binmode STDIN; $| = 1; while (read(STDIN, my $h, 5) == 5) { my ($flags, $n) = unpack("CN", $h); read(STDIN, my $json, $n); print "$json\n"; }'

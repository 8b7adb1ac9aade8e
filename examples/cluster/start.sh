#!/bin/sh
# Three `hotline echo` nodes on one Redis, on ports 9001-9003, each advertising itself
# to the others so that an HTTP session's requests can land on any of them. Redis must be
# running (redis-server --port 6379). Ctrl-C stops all three.
set -e
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
HOTLINE=${HOTLINE:-npx hotline}
trap 'kill 0' INT TERM
for port in 9001 9002 9003; do
  $HOTLINE echo --port "$port" --host 127.0.0.1 --redis "$REDIS_URL" --advertise "http://127.0.0.1:$port" &
done
wait

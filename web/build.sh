#!/bin/sh
# Build the clinician console (served by the hub at /console) when Node.js is present. The hub
# runs without it: /console then answers 404 with how to build it.
set -eu
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  echo "web/build.sh: Node.js not found; the hub runs without the console (/console)" >&2
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
npm run build --prefix console --silent
echo "web/build.sh: console built; it is served at /console" >&2

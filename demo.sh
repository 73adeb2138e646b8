#!/usr/bin/env bash
# The demo: a local cluster on this machine pulls an image through the mirror with the upstream registry stopped,
# and shows where every blob came from. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh
dotnet run --project demo/Spegel.Demo -c Release -- "$@"

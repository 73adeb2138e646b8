#!/usr/bin/env bash
# Runs every test: unit and functional tests, then integration tests against real containerd, a real Distribution
# registry, ctr and skopeo, and interop tests against js-libp2p peers. Installs what it needs first (apt-get, npm ci,
# dotnet restore).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh
(cd tests/interop-js && npm ci --no-audit --no-fund --loglevel=error)
dotnet restore Spegel.slnx
dotnet build Spegel.slnx --no-restore -c Release
# One test assembly at a time: the end-to-end and integration suites run real daemons and measure timeouts.
dotnet test Spegel.slnx --no-build -c Release -maxcpucount:1 --logger "console;verbosity=normal" "$@"

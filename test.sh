#!/usr/bin/env bash
# Runs every test: unit and functional tests, then integration tests against real containerd, a real Distribution
# registry, ctr and skopeo. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh
dotnet restore Spegel.slnx
dotnet build Spegel.slnx --no-restore -c Release
dotnet test Spegel.slnx --no-build -c Release --logger "console;verbosity=normal" "$@"

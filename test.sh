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
# The whole log is kept; when a test fails, its name and message are printed again at the end, so the last lines of the
# output (all a CI page may show) say which test failed and why.
log=$(mktemp /tmp/spegel-test-XXXXXX.log)
set +e
dotnet test Spegel.slnx --no-build -c Release -maxcpucount:1 --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -eq 0 ]; then
  rm -f "$log"
else
  echo
  echo "=== the tests FAILED (dotnet test exit $status); what failed, from $log: ==="
  grep -nE '^\s+Failed [A-Za-z]|\[FAIL\]|Test Run Aborted|aborted|crashed|exited with error|Total tests:|Failed:|^\s+Passed:' "$log" | head -60 || true
  echo "--- the first failure's message ---"
  grep -m1 -A30 -E '^\s+Failed [A-Za-z]' "$log" || true
fi
exit "$status"

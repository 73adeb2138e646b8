#!/usr/bin/env bash
# Removes what the demo, the tests and the benchmarks leave on this machine's network (TESTBED.md §0, §5): leftover
# test namespaces (sp-*) and their veths, the bridge tbr0, the guard (the unreachable routes for 10.77.0.0/24 and
# fd77:77::/64 and the nftables table inet testguard) and the lock file. Run it only when no demo, test or benchmark is
# running; the next run installs the guard again before it creates anything.
set -euo pipefail

if [ -e /run/lock/spegel-testbed.lock ] && command -v flock >/dev/null && ! flock -n /run/lock/spegel-testbed.lock true; then
  echo "a test network is in use (lock /run/lock/spegel-testbed.lock): stop the demo/tests first" >&2
  exit 1
fi

for ns in $(ip netns list | awk '{print $1}' | grep '^sp-' || true); do
  ip link del "tv-${ns#sp-}" 2>/dev/null || true
  ip netns del "$ns"
  echo "removed namespace $ns"
done
ip link del tbr0 2>/dev/null && echo "removed bridge tbr0" || true
# The guard goes last: nothing may reach the test addresses while any namespace is still there.
nft delete table inet testguard 2>/dev/null && echo "removed nftables table inet testguard" || true
ip route del unreachable 10.77.0.0/24 2>/dev/null && echo "removed route unreachable 10.77.0.0/24" || true
ip -6 route del unreachable fd77:77::/64 2>/dev/null && echo "removed route unreachable fd77:77::/64" || true
rm -f /run/lock/spegel-testbed.lock

#!/usr/bin/env bash
# Installs the Debian packages the demo, the tests and the benchmarks drive (TESTBED.md §1). Idempotent and fast
# when everything is present. Needs root (apt-get).
set -euo pipefail

# golang-go and the golang-*-dev libraries build tools/chart-render, the chart tests' stand-in for `helm template`.
# qemu-user-static and the cross runtime libraries (libc, libstdc++, libgcc of arm64 and armhf) run the ARM builds of
# the image's binary under emulation (tests/Spegel.IntegrationTests/ContainerImageTests.cs).
packages=(containerd runc docker-registry skopeo umoci nftables iproute2 jq nginx-light curl chromium openssl
  golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev golang-github-xeipuuv-gojsonschema-dev
  qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
  libc6-armhf-cross libstdc++6-armhf-cross libgcc-s1-armhf-cross)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v dotnet >/dev/null && dotnet --list-sdks | grep -q '^10\.' || { echo "the .NET 10 SDK (dotnet) is required: see the README's Quick start" >&2; exit 1; }
node_major=$(node --version 2>/dev/null | sed 's/^v\([0-9]*\).*/\1/')
[ "${node_major:-0}" -ge 20 ] || { echo "Node.js 20 or newer (node, npm) is required for the js-libp2p interop tests: see the README's Quick start" >&2; exit 1; }

"$(dirname "$0")/build-chart-renderer.sh"

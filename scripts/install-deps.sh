#!/usr/bin/env bash
# Installs the Debian packages the demo, the tests and the benchmarks drive (TESTBED.md §1). Idempotent and fast
# when everything is present. Needs root (apt-get).
set -euo pipefail

# qemu-user-static and the cross runtime libraries (libc, libstdc++, libgcc of arm64 and armhf) run the ARM builds of
# the image's binary under emulation (tests/Spegel.IntegrationTests/ContainerImageTests.cs).
packages=(containerd runc docker-registry skopeo umoci nftables iproute2 jq nginx-light curl chromium
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

command -v dotnet >/dev/null || { echo "the .NET 10 SDK (dotnet) is required: https://dot.net" >&2; exit 1; }
command -v node >/dev/null || { echo "Node.js (node, npm) is required for the js-libp2p interop tests" >&2; exit 1; }

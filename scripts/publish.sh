#!/usr/bin/env bash
# Publishes the spegel binary for each architecture and packs release tarballs named like Spegel's (its
# .goreleaser.yaml): dist/spegel_<version>_linux_<arch>.tar.gz holding spegel_linux_<arch>/spegel, plus
# dist/spegel_<version>_checksums.txt (sha256). The binary is the one the Dockerfile puts in the image: trimmed,
# self-contained, single file, globalization-invariant; it needs only glibc, libstdc++ and libgcc (and OpenSSL for
# TLS) on the host, no .NET runtime. Needs the .NET 10 SDK; the target's runtime packs come from NuGet.
#
#   scripts/publish.sh                 # amd64, arm64 and arm (ARMv7, hard float)
#   scripts/publish.sh arm64           # one architecture
#   VERSION=v0.2.0 scripts/publish.sh  # stamp a release version into the binary and the archive names
#   DIST=/tmp/out scripts/publish.sh   # another output folder (default: dist/ in the repository)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

case "${1:-}" in
  -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(amd64 arm64 arm)
# Every architecture is checked before anything is built.
rids=()
for arch in "${arches[@]}"; do
  rids+=("$(sh scripts/dotnet-rid.sh "$arch")")
done

version_args=()
if [ -n "${VERSION:-}" ]; then
  # Like goreleaser's .Version: the tag without its leading v.
  version=${VERSION#v}
  if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    echo "publish.sh: VERSION='$VERSION' is not a version like 1.2.3 or v1.2.3-rc.1" >&2
    exit 1
  fi
  version_args=(-p:Version="$version")
else
  version=$(dotnet msbuild src/Spegel/Spegel.csproj -getProperty:Version)
fi

dist=${DIST:-$repo/dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
# Archive entries get the last commit's time (or SOURCE_DATE_EPOCH), so the same source packs the same bytes.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

for i in "${!arches[@]}"; do
  arch=${arches[$i]}
  rid=${rids[$i]}
  name="spegel_linux_${arch}"
  echo "publishing $name ($rid)"
  rm -rf "$dist/.publish/$rid" "$dist/$name"
  # A separate artifacts folder per runtime: the repository's own obj/ and bin/ stay as a plain build left them.
  if ! dotnet publish src/Spegel/Spegel.csproj -c Release -r "$rid" --self-contained \
    -p:PublishSingleFile=true -p:PublishTrimmed=true -p:InvariantGlobalization=true -p:DebugType=none \
    "${version_args[@]}" --artifacts-path "$dist/.build/$rid" -o "$dist/.publish/$rid"; then
    echo "publish.sh: publishing $name ($rid) failed; NU1101 for Microsoft.NETCore.App.Runtime.$rid and the like means" \
      "the NuGet source serves no runtime packs for $rid" >&2
    exit 1
  fi
  mkdir -p "$dist/$name"
  # Only the binary, as in Spegel's archives (the publish folder also has an empty static-assets manifest).
  cp "$dist/.publish/$rid/spegel" "$dist/$name/spegel"
  rm -rf "$dist/.publish/$rid"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$dist" -cf - "$name/spegel" |
    gzip -n -9 >"$dist/spegel_${version}_linux_${arch}.tar.gz"
done

(cd "$dist" && sha256sum spegel_"${version}"_linux_*.tar.gz >"spegel_${version}_checksums.txt")
ls -l "$dist"/spegel_"${version}"_*

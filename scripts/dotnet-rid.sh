#!/bin/sh
# Maps a container platform's architecture and variant (buildx's TARGETARCH and TARGETVARIANT, or the names in
# Spegel's release archives) to the .NET runtime identifier that publishes for it. Used by the Dockerfile and by
# scripts/publish.sh, so the image and the release tarballs are built for the same targets.
#   dotnet-rid.sh amd64        -> linux-x64
#   dotnet-rid.sh arm64        -> linux-arm64
#   dotnet-rid.sh arm v7       -> linux-arm   (32-bit ARMv7, hard float: what .NET supports on 32-bit ARM)
set -eu
arch="${1:-}"
variant="${2:-}"
case "$arch/$variant" in
  amd64/ | amd64/v1 | amd64/v2 | amd64/v3 | amd64/v4) echo linux-x64 ;;
  arm64/ | arm64/v8) echo linux-arm64 ;;
  # buildx normalizes linux/arm to linux/arm/v7; .NET needs ARMv7 or later, so v6 and v5 are refused.
  arm/ | arm/v7) echo linux-arm ;;
  *)
    echo "dotnet-rid.sh: unsupported architecture '$arch' variant '$variant': spegel is built for linux/amd64, linux/arm64 and linux/arm/v7" >&2
    exit 1
    ;;
esac

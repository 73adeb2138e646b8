#!/usr/bin/env bash
# Builds tools/chart-render, our stand-in for `helm template` (there is no helm package in Debian), into
# artifacts/chart-render/chart-render. Only Debian's Go toolchain and Debian's Go library packages are used, in GOPATH
# mode: nothing is downloaded. Does nothing when the binary is newer than every source file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/tools/chart-render"
out="$root/artifacts/chart-render"
bin="$out/chart-render"

if [ -x "$bin" ] && [ -z "$(find "$src" -name '*.go' -newer "$bin")" ]; then
  exit 0
fi
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/Masterminds/sprig ]; then
  echo "building the chart renderer needs golang-go, golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev and golang-github-xeipuuv-gojsonschema-dev: run ./scripts/install-deps.sh" >&2
  exit 1
fi

mkdir -p "$out/gopath"
cd "$src"
GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0 GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/cache" \
  go build -trimpath -o "$bin.$$" .
mv -f "$bin.$$" "$bin"

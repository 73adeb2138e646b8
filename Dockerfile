# syntax=docker/dockerfile:1
# The spegel image: a self-contained, trimmed single-file build (about 24 MB) on a chiseled (distroless) base, no
# shell, no package manager. Multi-platform like Spegel's: linux/amd64, linux/arm64 and linux/arm/v7.
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t spegel .
# Runs with a read-only root filesystem. The DaemonSet needs root to reach containerd's socket and to write the
# node's certs.d; the uninstall hook's wait pod runs as non-root (see charts/spegel).

# The SDK runs on the build machine's own platform (no emulation) and cross-publishes for the target: trimming and
# single-file bundling need no target CPU, only the target's runtime packs from NuGet.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TARGETARCH
ARG TARGETVARIANT
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props ./
COPY scripts/dotnet-rid.sh scripts/
COPY src/Spegel/Spegel.csproj src/Spegel/
COPY src/Spegel.Libp2p/Spegel.Libp2p.csproj src/Spegel.Libp2p/
RUN rid=$(sh scripts/dotnet-rid.sh "$TARGETARCH" "$TARGETVARIANT") && \
    dotnet restore src/Spegel/Spegel.csproj -r "$rid" -p:PublishTrimmed=true
COPY src/ src/
RUN rid=$(sh scripts/dotnet-rid.sh "$TARGETARCH" "$TARGETVARIANT") && \
    dotnet publish src/Spegel/Spegel.csproj -c Release -r "$rid" --self-contained --no-restore \
      -p:PublishSingleFile=true -p:PublishTrimmed=true -p:InvariantGlobalization=true \
      -p:DebugType=none -o /out

# The runtime stage is the target platform's own base image (amd64, arm64v8 and arm32v7 variants exist).
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled
# No diagnostics IPC socket (it would need a writable /tmp); no ICU in the base (the build is globalization-invariant).
# A 4 MiB gen0 budget (the default is sized from the CPU's L3 cache, 6 MiB and more, whatever the pod's 128 MiB): in a
# 128 MiB group with 2,000 advertised keys the managed heap idles at 3.7 MiB instead of 8.9 and the peak while serving 8
# streams drops 79 -> 72 MiB resident, 55 -> 47 MiB charged (docs/benchmarks/memory.md). An environment variable: the
# GC gives this knob no runtimeconfig name.
# No tiered compilation: each method is compiled once, optimised, instead of a quick copy first and an optimised one
# later (both kept). For the trimmed build (which JIT-compiles the framework too) that is 58.9 MiB idle instead of 65.4,
# 69 instead of 75.5 MiB at the serving peak, and resident memory that levels off (66 MiB after six rounds of 4 nodes
# pulling 100 MB images) instead of creeping (84 MiB and rising); rates within the noise (docs/benchmarks/memory.md).
ENV DOTNET_EnableDiagnostics=0 \
    DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
    DOTNET_GCgen0size=0x400000 \
    DOTNET_TieredCompilation=0
COPY --from=build /out/ /app/
USER 0
ENTRYPOINT ["/app/spegel"]

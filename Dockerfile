# syntax=docker/dockerfile:1
# The spegel image: a self-contained, trimmed single-file build (about 24 MB) on a chiseled (distroless) base, no
# shell, no package manager.
# Runs with a read-only root filesystem. The DaemonSet needs root to reach containerd's socket and to write the
# node's certs.d; the uninstall hook's wait pod runs as non-root (see charts/spegel).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props ./
COPY src/Spegel/Spegel.csproj src/Spegel/
COPY src/Spegel.Libp2p/Spegel.Libp2p.csproj src/Spegel.Libp2p/
RUN dotnet restore src/Spegel/Spegel.csproj -r linux-x64 -p:PublishTrimmed=true
COPY src/ src/
RUN dotnet publish src/Spegel/Spegel.csproj -c Release -r linux-x64 --self-contained --no-restore \
      -p:PublishSingleFile=true -p:PublishTrimmed=true -p:InvariantGlobalization=true \
      -p:DebugType=none -o /out

FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled
# No diagnostics IPC socket (it would need a writable /tmp); no ICU in the base (the build is globalization-invariant).
ENV DOTNET_EnableDiagnostics=0 \
    DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
COPY --from=build /out/ /app/
USER 0
ENTRYPOINT ["/app/spegel"]

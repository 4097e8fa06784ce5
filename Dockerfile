# swift-inetd in a container.
#
#   docker build -t swift-inetd .
#   docker run --rm --name inetd -p 7007:7007 -p 7013:7013 swift-inetd
#   docker kill --signal=HUP inetd          (reload: README.md, "Containers")
#
# Your own configuration: mount its directory, not the file
#   docker run ... -v "$PWD/conf:/etc/inetd:ro" swift-inetd /etc/inetd/inetd.conf
# (an editor that saves by rename leaves a file mount on the old inode).
#
# Both stages use Debian 12 "bookworm". The binary links glibc dynamically
# (a fully static glibc crashes in NSS look-ups, SPEC section 7), so it needs
# a glibc at least as new as the one it was built with: 2.36 here. Building
# and running on the same Debian release keeps that true.

# Build stage: Swift's own image of Debian 12, Swift 6.3 (the toolchain this
# package is tested with). It carries the static Swift standard library that
# the release build links (-static-stdlib in Package.swift).
FROM swift:6.3-bookworm AS build
WORKDIR /src
# Tests is copied because Package.swift declares its targets; nothing in it
# is built here.
COPY Package.swift ./
# Linker holds the linker script that links libstdc++ statically (Package.swift,
# releaseLinkFlags): without it the binary would silently need libstdc++.so.6.
COPY Linker ./Linker
COPY Sources ./Sources
COPY Tests ./Tests
# Stripped (--strip-all: the symbol table and debug sections, 12.2 MiB ->
# 6.8 MiB): the Swift metadata the runtime reads lives in sections that
# strip keeps, and release end-to-end tests pass on a stripped copy
# (docs/supervisors.md). Crash backtraces lose their function names.
RUN swift build -c release --product inetd \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/inetd" /out/inetd \
    && strip --strip-all /out/inetd

# Run stage: the binary needs only libc.so.6 and libm.so.6 (libc6); the Swift
# standard library, libstdc++ and libgcc are linked in.
FROM debian:bookworm-slim
COPY --from=build /out/inetd /usr/local/sbin/inetd
# Services on * (every address of the container), so that published ports
# reach them; port numbers, since the slim image has no /etc/services.
COPY dist/docker/inetd.conf /etc/inetd.conf
# inetd stays in the foreground, logs to stderr and reaps every child, so it
# runs as PID 1 without an init. SIGTERM (docker stop) stops it cleanly.
ENTRYPOINT ["/usr/local/sbin/inetd"]
CMD ["/etc/inetd.conf"]

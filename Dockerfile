# swift-inetd in a container.
#
#   docker build -t swift-inetd .
#   docker run --rm -v "$PWD/inetd.conf:/etc/inetd.conf:ro" -p 7007:7007 swift-inetd
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
RUN swift build -c release --product inetd \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/inetd" /out/inetd

# Run stage: the binary needs only libc.so.6 and libm.so.6 (libc6); the Swift
# standard library, libstdc++ and libgcc are linked in.
FROM debian:bookworm-slim
COPY --from=build /out/inetd /usr/local/sbin/inetd
# The sample listens on 127.0.0.1 only: mount your own file over this one,
# with services on * so that they are reachable from outside the container.
COPY inetd.conf.sample /etc/inetd.conf
# inetd stays in the foreground, logs to stderr and reaps every child, so it
# runs as PID 1 without an init. SIGTERM (docker stop) stops it cleanly.
ENTRYPOINT ["/usr/local/sbin/inetd"]
CMD ["/etc/inetd.conf"]

// swift-tools-version:6.0
// swift-inetd: an inetd-style superserver for Linux. Toolchain only: no package
// dependencies, by design (see README.md).
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// How the release inetd is linked (issue 10; measured in docs/benchmarks.md,
/// 2026-11-30). The aim is private memory (RssAnon), peak RSS and start-up time.
let releaseLinkFlags: [String] = [
    // The Swift standard library and runtime inside the binary (glibc stays
    // dynamic: see the target's comment).
    "-static-stdlib",
    // Still a PIE, on purpose: linked position-dependent (-no-pie) the
    // binary needs none of the 16,000 R_X86_64_RELATIVE relocations its
    // Swift metadata takes, and RssAnon is 152 KiB lower, but its own code
    // and data would sit at fixed addresses in a daemon that runs as root.
    // Every target is met without it (docs/benchmarks.md, 2026-11-30).
    // The few pieces of libstdc++ and libgcc the Swift runtime uses, linked
    // in rather than loading libstdc++.so.6 (2 MiB, with its own relocations
    // and data) and libgcc_s.so.1. -lstdc++ comes from the toolchain's
    // arguments, so -static-libstdc++ cannot reach it: the linker script
    // Linker/static-libstdc++/libstdc++.so, found first, turns it into
    // libstdc++.a. --exclude-libs ALL (also the toolchain's) keeps these
    // copies private: an NSS module that brings its own libstdc++.so does not
    // bind to them. With one service: RssAnon 368 -> 284 KiB, peak RSS
    // 5,812 -> 5,216 KiB, ready 3.1 -> 2.4 ms.
    "-L", Context.packageDirectory + "/Linker/static-libstdc++",
    "-Xclang-linker", "-static-libgcc",
    // No dynamic symbol table of inetd's own symbols. The toolchain passes
    // --export-dynamic (for plug-ins' dlsym), which exported ~980 InetdCore
    // symbols nothing looks up: the Swift runtime finds metadata and
    // conformances through the swift5_* sections, not the symbol table.
    // .dynsym 1,263 -> 277 entries (only glibc imports), idle RSS -250 KiB
    // of file pages, peak RSS -100 KiB.
    "-Xlinker", "--no-export-dynamic",
]

let package = Package(
    name: "swift-inetd",
    products: [
        .executable(name: "inetd", targets: ["inetd"]),
    ],
    targets: [
        // C: what Glibc's Swift module cannot reach (epoll, signalfd, accept4,
        // pipe2) and the only code that runs in a child between fork and exec.
        .target(name: "_InetdSystem"),
        .target(name: "InetdCore", dependencies: ["_InetdSystem"], swiftSettings: strict),
        // Release builds link the Swift standard library statically and glibc
        // dynamically. A fully static executable crashes on look-ups: glibc's
        // NSS modules (libnss_systemd, sss, ldap) are dlopened with a second
        // libc (SPEC section 7). So the binary needs a glibc at least as new
        // as the build's: the Dockerfile builds and runs on one Debian release.
        // The other release flags are in releaseLinkFlags below.
        .executableTarget(
            name: "inetd", dependencies: ["InetdCore"], swiftSettings: strict,
            linkerSettings: [.unsafeFlags(releaseLinkFlags, .when(configuration: .release))]),
        // The handler the end-to-end tests spawn: it reports what it inherited.
        .executableTarget(name: "inetd-probe", swiftSettings: strict),
        .testTarget(name: "InetdCoreTests", dependencies: ["InetdCore"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["inetd", "inetd-probe"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.0
// swift-inetd: an inetd-style superserver for Linux. Toolchain only: no package
// dependencies, by design (see README.md).
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
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
        .executableTarget(
            name: "inetd", dependencies: ["InetdCore"], swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(configuration: .release))]),
        // The handler the end-to-end tests spawn: it reports what it inherited.
        .executableTarget(name: "inetd-probe", swiftSettings: strict),
        .testTarget(name: "InetdCoreTests", dependencies: ["InetdCore"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["inetd", "inetd-probe"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

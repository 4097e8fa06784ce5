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
        // Release builds link statically: the binary then maps only the code it
        // runs, which halves idle memory (docs/benchmarks.md). glibc's NSS
        // modules (users, groups, /etc/services) are still loaded at run time,
        // so a release binary runs with the glibc it was built with.
        .executableTarget(
            name: "inetd", dependencies: ["InetdCore"], swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-static-executable"], .when(configuration: .release))]),
        // The handler the end-to-end tests spawn: it reports what it inherited.
        .executableTarget(name: "inetd-probe", swiftSettings: strict),
        .testTarget(name: "InetdCoreTests", dependencies: ["InetdCore"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["inetd", "inetd-probe"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

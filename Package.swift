// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "orderbooks",
    products: [
        .executable(name: "snap", targets: ["snap"]),
        .executable(name: "seal", targets: ["seal"]),
        .executable(name: "ship", targets: ["ship"]),
        .executable(name: "gate", targets: ["gate"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // ship runs rclone with it; tests drive the real binaries and the fake servers through it.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2", traits: []),
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
    ],
    targets: [
        // C libraries through typed shims: Swift cannot call variadic curl_easy_setopt or zlib's init macros.
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", providers: [.apt(["libssl-dev"])]),
        // Landlock's system calls (glibc has no wrappers); no library to link.
        .systemLibrary(name: "CLandlock"),
        // The shared core: files, gzip, digests, JSON, time, logging, the data layout and formats,
        // the settings every tool shares. No network, no subprocesses.
        .target(
            name: "OrderbooksCore",
            dependencies: ["CZlib", "CCrypto", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // One library per tool on top of the core: each binary links only what it uses.
        // snap: discovery, books, resolutions over libcurl.
        .target(name: "OrderbooksCapture", dependencies: ["OrderbooksCore", "CCurl", "CLandlock"]),
        // seal: spool files into segments and manifests; `seal verify`.
        .target(name: "OrderbooksSealing", dependencies: ["OrderbooksCore"]),
        // ship: rclone (through swift-subprocess), receipts, prune.
        .target(
            name: "OrderbooksShipping",
            dependencies: [
                "OrderbooksCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // gate: liveness for monitors, the production gate and its report; runs the other tools
        // and systemd's as programs, so it links none of their libraries.
        .target(
            name: "OrderbooksGate",
            dependencies: [
                "OrderbooksCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "snap",
            dependencies: ["OrderbooksCapture", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "seal",
            dependencies: ["OrderbooksSealing", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "ship",
            dependencies: ["OrderbooksShipping", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "gate",
            dependencies: ["OrderbooksGate", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "OrderbooksCoreTests", dependencies: ["OrderbooksCore"]),
        .testTarget(name: "OrderbooksCaptureTests", dependencies: ["OrderbooksCapture"]),
        // Sealed data directories for the tests of seal and of ship (which ships what seal made).
        .target(name: "TestSupport", dependencies: ["OrderbooksSealing"], path: "Tests/TestSupport"),
        .testTarget(name: "OrderbooksSealingTests", dependencies: ["OrderbooksSealing", "TestSupport"]),
        .testTarget(name: "OrderbooksShippingTests", dependencies: ["OrderbooksShipping", "TestSupport"]),
        .testTarget(name: "OrderbooksGateTests", dependencies: ["OrderbooksGate", "TestSupport"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "OrderbooksCapture", "OrderbooksSealing", "OrderbooksShipping",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
    ]
)

// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "orderbooks",
    products: [
        .executable(name: "snap", targets: ["snap"]),
        .executable(name: "seal", targets: ["seal"]),
        .executable(name: "ship", targets: ["ship"]),
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
        .target(
            name: "OrderbooksCore",
            dependencies: [
                "CCurl", "CZlib", "CCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .executableTarget(
            name: "snap",
            dependencies: [
                "OrderbooksCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "seal",
            dependencies: [
                "OrderbooksCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "ship",
            dependencies: [
                "OrderbooksCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "OrderbooksCoreTests", dependencies: ["OrderbooksCore"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "OrderbooksCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
    ]
)

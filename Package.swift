// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "HazardZoning",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hazard-zoning", targets: ["hazard-zoning"]),
        .library(name: "Zoning", targets: ["Zoning"]),
        .library(name: "GDALKit", targets: ["GDALKit"]),
        .library(name: "RasterKernel", targets: ["RasterKernel"]),
        .library(name: "COGWriter", targets: ["COGWriter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CGDAL",
            pkgConfig: "gdal",
            providers: [.apt(["libgdal-dev", "pkgconf"])]
        ),
        .target(name: "GDALKit", dependencies: ["CGDAL"]),
        .systemLibrary(
            name: "CDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]
        ),
        .target(name: "COGWriter", dependencies: ["CDeflate"]),
        .systemLibrary(
            name: "CCairo",
            pkgConfig: "pangocairo",
            providers: [.apt(["libcairo2-dev", "libpango1.0-dev"])]
        ),
        .target(name: "Cartography", dependencies: ["CCairo", "GDALKit", "RasterKernel"]),
        .target(name: "RasterKernel"),
        .target(
            name: "Zoning",
            dependencies: [
                "GDALKit", "RasterKernel", "Cartography", "COGWriter",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "hazard-zoning",
            dependencies: [
                "Zoning",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "kernel-bench", dependencies: ["RasterKernel"]),
        .testTarget(name: "GDALKitTests", dependencies: ["GDALKit"]),
        .testTarget(name: "CartographyTests", dependencies: ["Cartography", "GDALKit"]),
        .testTarget(name: "RasterKernelTests", dependencies: ["RasterKernel"]),
        .testTarget(name: "COGWriterTests", dependencies: ["COGWriter", "GDALKit"]),
        .testTarget(name: "ZoningTests", dependencies: ["Zoning", "GDALKit", "RasterKernel"]),
    ]
)

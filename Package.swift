// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "HazardZoning",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "hazard-zoning", targets: ["hazard-zoning"]),
        .library(name: "Zoning", targets: ["Zoning"]),
        .library(name: "RiskDatabase", targets: ["RiskDatabase"]),
        .library(name: "Cluster", targets: ["Cluster"]),
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
        // FilePaths: path strings (append, parent, name, extension) with NSString's semantics, no
        // NSString; and SafeFiles, how every file the tool creates or deletes is reached (realpath
        // confinement, O_NOFOLLOW locks, plain files only, fresh folders); imports nothing.
        .target(name: "FilePaths"),
        // GDALKit: Swift over GDAL/OGR/OSR (datasets, bands, layers, SQL, warping); imports CGDAL, FilePaths.
        .target(name: "GDALKit", dependencies: ["CGDAL", "FilePaths"]),
        .systemLibrary(
            name: "CDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]
        ),
        // COGWriter: Cloud-Optimized GeoTIFFs written tile by tile; imports only CDeflate.
        .target(name: "COGWriter", dependencies: ["CDeflate"]),
        .systemLibrary(
            name: "CCairo",
            pkgConfig: "pangocairo",
            providers: [.apt(["libcairo2-dev", "libpango1.0-dev"])]
        ),
        .systemLibrary(
            name: "CXLSX",
            pkgConfig: "xlsxwriter",
            providers: [.apt(["libxlsxwriter-dev"])]
        ),
        // Cartography: maps (PDF/PNG) and QGIS styles; imports CCairo, GDALKit, RasterKernel.
        .target(name: "Cartography", dependencies: ["CCairo", "GDALKit", "RasterKernel"]),
        // RasterKernel: the per-block arithmetic (normalisation, index, classes, AHP); imports no other target.
        .target(name: "RasterKernel"),
        // RiskDatabase: the GeoPackage of every published run (schema, import, queries, check); reads
        // run folders as published (manifest.json, stats.json, zones.gpkg), never Zoning's types;
        // imports only GDALKit, FilePaths.
        .target(name: "RiskDatabase", dependencies: ["GDALKit", "FilePaths"]),
        // Zoning: jobs, plans, the runner and its stages, the run folders' products; imports
        // FilePaths, GDALKit, RasterKernel, Cartography, COGWriter, RiskDatabase (records runs in it).
        .target(
            name: "Zoning",
            dependencies: [
                "FilePaths", "GDALKit", "RasterKernel", "Cartography", "COGWriter", "RiskDatabase", "CXLSX",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Cluster: Slurm submission (scripts calling hazard-zoning run --shard / merge / slurm-task,
        // sbatch, waiting for the jobs); imports Zoning, FilePaths.
        .target(
            name: "Cluster",
            dependencies: [
                "Zoning", "FilePaths",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // hazard-zoning: the command line; imports Zoning, RiskDatabase, Cluster, FilePaths.
        .executableTarget(
            name: "hazard-zoning",
            dependencies: [
                "Zoning", "RiskDatabase", "Cluster", "FilePaths",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // kernel-bench: timings of RasterKernel; imports only RasterKernel.
        .executableTarget(name: "kernel-bench", dependencies: ["RasterKernel"]),
        .testTarget(name: "GDALKitTests", dependencies: ["GDALKit"]),
        .testTarget(name: "CartographyTests", dependencies: ["Cartography", "GDALKit"]),
        .testTarget(name: "RasterKernelTests", dependencies: ["RasterKernel"]),
        .testTarget(name: "COGWriterTests", dependencies: ["COGWriter", "GDALKit"]),
        // ZoningTests also covers the database and the Slurm submission: their tests run whole jobs
        // through Zoning's fixtures (Support.swift, the zoning fixture).
        .testTarget(name: "ZoningTests", dependencies: ["Zoning", "RiskDatabase", "Cluster", "FilePaths", "GDALKit", "RasterKernel"]),
    ]
)

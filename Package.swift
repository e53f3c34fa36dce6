// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Journey",
    products: [
        .library(name: "JourneyCore", targets: ["JourneyCore"]),
        .library(name: "JourneyStore", targets: ["JourneyStore"]),
        .executable(name: "journeyd", targets: ["journeyd"]),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "CPrefetch"),
        .target(name: "JourneyCore", dependencies: ["CPrefetch"], linkerSettings: [.linkedLibrary("m")]),
        .target(name: "JourneyStore", dependencies: ["JourneyCore", "CLMDB"]),
        .executableTarget(name: "journeyd", dependencies: ["JourneyCore", "JourneyStore"]),
        .executableTarget(
            name: "JourneyBench",
            dependencies: ["JourneyCore", "JourneyStore"],
            path: "Benchmarks/JourneyBench"
        ),
        .executableTarget(
            name: "JourneyCrashLoop",
            dependencies: ["JourneyCore", "JourneyStore"],
            path: "Tools/JourneyCrashLoop"
        ),
        .testTarget(name: "JourneyCoreTests", dependencies: ["JourneyCore"]),
        .testTarget(name: "JourneyStoreTests", dependencies: ["JourneyStore", "JourneyCore"]),
        .testTarget(name: "journeydTests", dependencies: ["journeyd", "JourneyCrashLoop", "JourneyStore", "JourneyCore"]),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Journey",
    products: [
        .library(name: "JourneyCore", targets: ["JourneyCore"]),
        .library(name: "JourneyStore", targets: ["JourneyStore"]),
        .library(name: "JourneyProtocol", targets: ["JourneyProtocol"]),
        .library(name: "JourneyClient", targets: ["JourneyClient"]),
        .executable(name: "journeyd", targets: ["journeyd"]),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .target(name: "CPrefetch"),
        .target(name: "CChecksum"),
        .target(name: "JourneyCore", dependencies: ["CPrefetch", "CChecksum"], linkerSettings: [.linkedLibrary("m")]),
        .target(name: "JourneyProtocol", dependencies: ["JourneyCore"]),
        .target(name: "JourneyStore", dependencies: ["JourneyCore", "JourneyProtocol", "CLMDB"]),
        .target(name: "JourneyClient", dependencies: ["JourneyCore", "JourneyProtocol"]),
        .executableTarget(name: "journeyd", dependencies: ["JourneyCore", "JourneyProtocol", "JourneyStore", "JourneyClient"]),
        .executableTarget(
            name: "JourneyBench",
            dependencies: ["JourneyCore", "JourneyStore", "JourneyClient"],
            path: "Benchmarks/JourneyBench"
        ),
        .executableTarget(
            name: "JourneyCrashLoop",
            dependencies: ["JourneyCore", "JourneyProtocol", "JourneyStore", "JourneyClient"],
            path: "Tools/JourneyCrashLoop"
        ),
        .testTarget(name: "JourneyCoreTests", dependencies: ["JourneyCore"]),
        .testTarget(name: "JourneyProtocolTests", dependencies: ["JourneyProtocol", "JourneyCore"]),
        .testTarget(name: "JourneyStoreTests", dependencies: ["JourneyStore", "JourneyProtocol", "JourneyCore"]),
        .testTarget(
            name: "journeydTests",
            dependencies: ["journeyd", "JourneyCrashLoop", "JourneyClient", "JourneyStore", "JourneyProtocol", "JourneyCore"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

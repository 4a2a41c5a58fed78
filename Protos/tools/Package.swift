// swift-tools-version:6.1
// Builds the two protoc plugins `scripts/generate-protos` runs (never part of the gateway's build).
import PackageDescription

let package = Package(
    name: "protogen",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
    ],
    targets: []
)

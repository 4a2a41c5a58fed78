import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PortcullisConfig
import PortcullisGateway
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway (the default command).",
        discussion: """
            Without --config, runs the embedded quickstart. SIGHUP (or POST /reload on the admin \
            listener) reloads the config file; a config that fails to compile is refused and the \
            running one stays. SIGTERM and SIGINT shut down gracefully.
            """
    )

    @Option(name: .shortAndLong, help: "YAML config file. Without it the embedded quickstart config runs.")
    var config: String?

    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: self.logLevel) ?? .info
            return handler
        }
        let logger = Logger(label: "portcullis")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads ?? System.coreCount)
        let source: ConfigSource = self.config.map { .file($0) } ?? .quickstart
        let runtime: GatewayRuntime
        do {
            runtime = try await GatewayRuntime.start(
                source: source, group: group, logger: logger, environment: ProcessInfo.processInfo.environment)
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("portcullis: the config has problems:\n\(error)\n".utf8))
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        Self.printBanner(runtime, quickstart: self.config == nil)
        let service = GatewayService(runtime: runtime, logger: logger)
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await serviceGroup.run()
        try? await group.shutdownGracefully()
    }

    static func printBanner(_ runtime: GatewayRuntime, quickstart: Bool) {
        guard let first = runtime.listeners.first else { return }
        let host = runtime.store.current.config.listeners.first?.host ?? "127.0.0.1"
        let scheme = runtime.store.current.config.listeners.first?.tls == nil ? "http" : "https"
        let base = "\(scheme)://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(first.port)"
        var lines: [String] = []
        lines.append("Portcullis is listening on \(base)" + (runtime.admin.map { " (admin on port \($0.port))" } ?? ""))
        let model = runtime.store.current.config.exposedModels.first?.name ?? "MODEL"
        let auth = quickstart ? " -H 'authorization: Bearer \(Quickstart.demoAPIKey)'" : ""
        lines.append(
            "Try: curl -s \(base)/v1/chat/completions\(auth) -H 'content-type: application/json' -d '{\"model\":\"\(model)\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'"
        )
        if quickstart {
            lines.append("(embedded quickstart config with the built-in mock backend; pass --config FILE for your own)")
        }
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// Keeps the runtime alive until shutdown; reloads on SIGHUP.
struct GatewayService: Service {
    let runtime: GatewayRuntime
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in signals.cancelOnGracefulShutdown() {
                    self.logger.info("SIGHUP: reloading config")
                    self.runtime.reload()
                }
            }
            group.addTask {
                try? await gracefulShutdown()
            }
            group.addTask {
                await self.runtime.run()
            }
            await group.next()
            group.cancelAll()
        }
        self.logger.info("shutting down")
        await self.runtime.shutdown()
    }
}

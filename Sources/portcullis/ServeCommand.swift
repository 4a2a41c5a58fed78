import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import PortcullisAuthz
import PortcullisConfig
import PortcullisGateway
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway (the default command).",
        discussion: """
            Without --config, runs the embedded quickstart. SIGHUP, POST /reload on the admin \
            listener, or a change of the config file reloads it; a config that fails to compile \
            is refused and the running one stays. SIGTERM and SIGINT stop gracefully: /readyz \
            fails, listeners stop accepting, requests in flight finish (up to http.drainTimeout), \
            then the process exits 0.
            """
    )

    @OptionGroup var options: ServeOptions

    func run() async throws {
        try await self.options.serve()
    }
}

/// The options of `serve`, shared with the root command (which runs `serve` by default).
struct ServeOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "YAML config file. Without it the embedded quickstart config runs.")
    var config: String?

    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func serve() async throws {
        let level = Logger.Level(rawValue: self.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "portcullis")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.threads ?? System.coreCount)
        let source: ConfigSource = self.config.map { .file($0) } ?? .quickstart
        let runtime: GatewayRuntime
        do {
            runtime = try await GatewayRuntime.start(
                source: source, group: group, logger: logger, environment: ProcessInfo.processInfo.environment,
                services: GatewayServices(
                    grpcAuthorization: GRPCAuthorizationTransport(group: group), authzServer: AuthzGRPCServerFactory(group: group)),
                options: .init(gracefulShutdownSignals: [.sigterm, .sigint], reloadOnSIGHUP: true))
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("portcullis: the config has problems:\n\(error)\n".utf8))
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("portcullis: cannot start: \(error)\n".utf8))
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        let quickstart = self.config == nil
        try await runtime.run(onRunning: { Self.printBanner(runtime, quickstart: quickstart) })
        logger.info("stopped")
        try? await group.shutdownGracefully()
    }

    static func printBanner(_ runtime: GatewayRuntime, quickstart: Bool) {
        guard let port = runtime.listenerPorts.first else { return }
        let config = runtime.store.current.config
        let host = config.listeners.first?.host ?? "127.0.0.1"
        let scheme = config.listeners.first?.tls == nil ? "http" : "https"
        let base = "\(scheme)://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)"
        var lines: [String] = []
        lines.append("Portcullis is listening on \(base)" + (runtime.admin.map { " (admin on port \($0.port))" } ?? ""))
        let model = config.exposedModels.first?.name ?? "MODEL"
        // The quickstart's demo key is known; with a config of one's own, a placeholder says a
        // credential is needed rather than printing a command that is bound to get 401.
        let auth =
            quickstart
            ? " -H 'authorization: Bearer \(Quickstart.demoAPIKey)'"
            : (config.authentication.required ? " -H \"authorization: Bearer $API_KEY\"" : "")
        lines.append(
            "Try: curl -s \(base)/v1/chat/completions\(auth) -H 'content-type: application/json' -d '{\"model\":\"\(model)\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'"
        )
        if quickstart {
            lines.append("(embedded quickstart config with the built-in mock backend; pass --config FILE for your own)")
        }
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

import ArgumentParser
import PortcullisCore

@main
struct Portcullis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "An edge gateway for multi-tenant LLM inference.",
        discussion: """
            With no subcommand, runs `serve`: without --config, on the embedded quickstart \
            config (data listener on 127.0.0.1:8080, admin on 127.0.0.1:9901, and an in-process \
            mock backend serving demo-chat and demo-embed).

            SERVE OPTIONS (portcullis [serve] [options]):
            """ + "\n" + Self.serveOptions,
        version: PortcullisVersion.current,
        subcommands: [
            ServeCommand.self, CheckCommand.self, ExplainCommand.self, BenchStagesCommand.self, MockCommand.self, HashKeyCommand.self, AuthzLoadCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )

    /// `portcullis --help` lists serve's options too, since `portcullis` alone runs serve. They
    /// are taken from ``ServeOptions`` itself (not written twice), without its usage line.
    static var serveOptions: String {
        let help = ServeOptions.helpMessage(columns: 80)
        guard let start = help.range(of: "OPTIONS:") else { return help }
        return help[start.upperBound...].split(separator: "\n").filter { !$0.contains("--help") && !$0.contains("Show help") }
            .joined(separator: "\n")
    }
}

import ArgumentParser

@main
struct Portcullis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portcullis",
        abstract: "An edge gateway for multi-tenant LLM inference.",
        discussion: """
            With no arguments, runs the gateway on its embedded quickstart config: data listener on \
            127.0.0.1:8080, admin on 127.0.0.1:9901, and an in-process mock backend serving demo-chat \
            and demo-embed.
            """,
        subcommands: [ServeCommand.self, CheckCommand.self, MockCommand.self, HashKeyCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

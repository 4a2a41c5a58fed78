import ArgumentParser
import Crypto
import Foundation
import PortcullisCore

struct HashKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-key",
        abstract: "Print the SHA-256 of an API key, for authentication.apiKeys[].sha256.",
        discussion: """
            The config stores only this hash. Pass the key as an argument, or on standard input \
            (keeps it out of shell history), or use --generate to create a new random key.
            """
    )

    @Argument(help: "The API key (omit to read it from standard input).")
    var key: String?

    @Flag(help: "Generate a new random key and print it with its hash.")
    var generate = false

    func run() throws {
        if self.generate {
            var bytes = [UInt8](repeating: 0, count: 32)
            var rng = SystemRandomNumberGenerator()
            for i in bytes.indices { bytes[i] = rng.next() }
            let key = "pc-" + Base64URL.encode(bytes)
            print("key:    \(key)")
            print("sha256: \(Self.hash(key))")
            return
        }
        var key = self.key
        if key == nil {
            key = readLine(strippingNewline: true)
        }
        guard let key, !key.isEmpty else {
            throw ValidationError("give a key as an argument or on standard input")
        }
        print(Self.hash(key))
    }

    static func hash(_ key: String) -> String {
        SHA256.hash(data: Array(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

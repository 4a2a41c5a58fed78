import Foundation
import PortcullisTestSupport
import Testing

/// `portcullis bench-stages` runs a config's own stages in-process on one request and prints
/// what each costs. Only its account is tested here (figures are a benchmark's, never a test's):
/// every stage that ran is listed and summed by part, the body's edits are applied, and a
/// request the config refuses is an error naming the stage, not a figure.
@Suite("portcullis bench-stages", .serialized)
struct BenchStagesCommandTests {
    static func bench(_ key: String, body: String, in dir: String) async throws -> (Int32, String) {
        try ExplainCommandTests.yaml.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        try body.write(toFile: dir + "/body.json", atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            executable: TestPaths.portcullisBinary,
            arguments: ["bench-stages", "--config", dir + "/c.yaml", "-H", "Authorization: Bearer \(key)", "--body", dir + "/body.json", "--iterations", "20"])
        let status = try await process.waitForExit()
        return (status, process.capturedOutput)
    }

    @Test func everyStageIsListedAndSummedByPart() async throws {
        try await withTemporaryDirectory { dir in
            let body = #"{"model":"chat","messages":[{"role":"user","content":"secret prompt"}]}"#
            let (status, output) = try await Self.bench("pc-eu-0123456789abcdef", body: body, in: dir)
            #expect(status == 0, "\(output)")
            for stage in ["authenticate", "inspect", "route", "region(model)", "token-cap", "limits(body)"] {
                #expect(output.contains("  \(stage) "), "missing '\(stage)' in:\n\(output)")
            }
            for part in ["= authentication:", "= validation and policy:", "= limits:", "iterations: 20", "whole iteration"] {
                #expect(output.contains(part), "missing '\(part)' in:\n\(output)")
            }
            // The plan's default token cap is spliced in, as `serve` would forward it.
            #expect(output.contains("body: \(body.utf8.count) bytes (forwarded as \(body.utf8.count + #""max_completion_tokens":500,"#.utf8.count))"), "\(output)")
            #expect(!output.contains("secret prompt") && !output.contains("pc-eu-0123456789abcdef"), "\(output)")
        }
    }

    @Test func aRefusedRequestIsAnErrorNamingTheStage() async throws {
        try await withTemporaryDirectory { dir in
            let (status, output) = try await Self.bench("pc-free-0123456789abcdef", body: #"{"model":"nope","messages":[{"role":"user"}]}"#, in: dir)
            #expect(status == 2, "\(output)")
            #expect(output.contains("refused by 'plan(model)' (404 model_not_found)"), "\(output)")
            // A body over the listener's limit is refused as `serve` would, not measured.
            let large = #"{"model":"chat","messages":[{"role":"user","content":""# + String(repeating: "a", count: 3000) + #""}]}"#
            let (bigStatus, bigOutput) = try await Self.bench("pc-free-0123456789abcdef", body: large, in: dir)
            #expect(bigStatus == 2 && bigOutput.contains("refused by 'body' (413 request_too_large)"), "\(bigOutput)")
        }
    }
}

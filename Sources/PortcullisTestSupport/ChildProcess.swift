import Foundation
import NIOConcurrencyHelpers

/// A process the tests start (the gateway binary, `portcullis mock`, redis-server…), with its
/// output captured, a way to wait for a line, and a guaranteed kill at the end.
public final class ChildProcess: Sendable {
    private let process: Process
    private let output = NIOLockedValueBox<String>("")
    private let lineWaiters = NIOLockedValueBox<[(String, CheckedContinuation<String, Never>)]>([])
    /// The output pipe reached its end (read on another queue, so possibly after the exit).
    private let outputEnded = NIOLockedValueBox(false)

    public var pid: Int32 { self.process.processIdentifier }
    public var isRunning: Bool { self.process.isRunning }
    public var capturedOutput: String { self.output.withLockedValue { $0 } }

    public init(executable: String, arguments: [String], environment: [String: String]? = nil) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        self.process = process
        let output = self.output
        let waiters = self.lineWaiters
        let ended = self.outputEnded
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                ended.withLockedValue { $0 = true }
                return
            }
            let text = String(decoding: data, as: UTF8.self)
            let all = output.withLockedValue { value -> String in
                value += text
                return value
            }
            let ready = waiters.withLockedValue { list -> [(CheckedContinuation<String, Never>, String)] in
                var fired: [(CheckedContinuation<String, Never>, String)] = []
                list.removeAll { needle, continuation in
                    if let line = Self.line(containing: needle, in: all) {
                        fired.append((continuation, line))
                        return true
                    }
                    return false
                }
                return fired
            }
            for (continuation, line) in ready { continuation.resume(returning: line) }
        }
        try process.run()
    }

    private static func line(containing needle: String, in text: String) -> String? {
        text.split(separator: "\n").first { $0.contains(needle) }.map(String.init)
    }

    /// Waits (bounded) for an output line containing `needle` and returns it.
    public func waitForLine(containing needle: String, timeout: Duration = .seconds(30)) async throws -> String {
        if let line = Self.line(containing: needle, in: self.capturedOutput) { return line }
        return try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let immediate = self.lineWaiters.withLockedValue { list -> String? in
                        if let line = Self.line(containing: needle, in: self.capturedOutput) { return line }
                        list.append((needle, continuation))
                        return nil
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TestFailure("timed out waiting for '\(needle)'; output so far:\n\(self.capturedOutput)")
            }
            let line = try await group.next()!
            group.cancelAll()
            return line
        }
    }

    public func signal(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    /// Waits (bounded) for the process to exit and returns its status. Its output is read on
    /// another queue: the wait also lets the last of it arrive (bounded too), so
    /// `capturedOutput` is complete afterwards.
    public func waitForExit(timeout: Duration = .seconds(20)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning {
            if ContinuousClock.now > deadline { throw TestFailure("process \(self.pid) did not exit") }
            try await Task.sleep(for: .milliseconds(20))
        }
        let outputDeadline = ContinuousClock.now + .seconds(5)
        while !self.outputEnded.withLockedValue({ $0 }) && ContinuousClock.now < outputDeadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return self.process.terminationStatus
    }

    public func terminate() {
        guard self.process.isRunning else { return }
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }

    deinit {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
        }
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Paths of things the tests run.
public enum TestPaths {
    /// The package root (found from this file's location).
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }

    /// The `portcullis` binary: `$PORTCULLIS_BIN`, else the debug build.
    public static var portcullisBinary: String {
        if let path = ProcessInfo.processInfo.environment["PORTCULLIS_BIN"] { return path }
        return packageRoot + "/.build/debug/portcullis"
    }
}

/// `portcullis mock` as its own process on a free port.
public final class MockProcess: Sendable {
    public let process: ChildProcess
    public let port: Int

    private init(process: ChildProcess, port: Int) {
        self.process = process
        self.port = port
    }

    public static func start(_ arguments: [String] = []) async throws -> MockProcess {
        let process = try ChildProcess(
            executable: TestPaths.portcullisBinary, arguments: ["mock", "--port", "0"] + arguments)
        let line = try await process.waitForLine(containing: "mock listening on")
        guard let portText = line.split(separator: ":").last, let port = Int(portText) else {
            throw TestFailure("unexpected mock banner: \(line)")
        }
        return MockProcess(process: process, port: port)
    }

    public var url: String { "http://127.0.0.1:\(self.port)" }

    public func stop() { self.process.terminate() }
}

import PortcullisHTTP
import NIOPosix
import Foundation
import NIOConcurrencyHelpers
import PortcullisTestSupport
import Testing

/// Hot reload: serialised, compiled off the data-plane loops, swapped atomically; a bad config
/// is refused and counted while the old one serves; listeners and the access log follow the
/// config or the reload is refused.
@Suite("Reloading the config", .serialized)
struct ReloadTests {
    /// A config file whose routes, listeners and access log a test rewrites.
    static func yaml(
        mockURL: String, models: [String], listeners: String = "  - { name: main, address: 127.0.0.1:0 }",
        accessLog: String = "off", admin: String = "127.0.0.1:0"
    ) -> String {
        let routes = models.map { "  - { match: { model: \"\($0)\" }, backend: mock }" }.joined(separator: "\n")
        return """
            listeners:
            \(listeners)
            admin: { address: \(admin) }
            reload: { watch: false }
            accessLog: { destination: "\(accessLog)" }
            backends:
              mock: { endpoints: [\(mockURL)] }
            routes:
            \(routes)
            """
    }

    @Test func underLoadNoRequestFailsAndEveryValidChangeTakesEffect() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try await MockProcess.start(["--chunks", "2", "--chunk-delay-ms", "0"])
            defer { mock.stop() }
            let path = dir + "/gw.yaml"
            try Self.yaml(mockURL: mock.url, models: ["stable"]).write(toFile: path, atomically: true, encoding: .utf8)
            let gateway = try await GatewayHarness.start(configPath: path)
            do {
                let base = gateway.baseURL
                let admin = "http://127.0.0.1:\(gateway.runtime.admin!.port)"
                let stop = NIOLockedValueBox(false)
                let failures = NIOLockedValueBox<[String]>([])
                let sent = NIOLockedValueBox(0)
                let load = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for worker in 0..<4 {
                            group.addTask {
                                var n = 0
                                // Bounded in count; the reloads end it sooner.
                                while !stop.withLockedValue({ $0 }) && n < 3000 {
                                    n += 1
                                    do {
                                        let reply = try await TestHTTP.chat(base, model: "stable", stream: n % 5 == 0)
                                        if reply.status != 200 { failures.withLockedValue { $0.append("\(worker)/\(n): \(reply.status)") } }
                                    } catch {
                                        failures.withLockedValue { $0.append("\(worker)/\(n): \(error)") }
                                    }
                                    sent.withLockedValue { $0 += 1 }
                                }
                            }
                        }
                    }
                }
                var valid = 0
                for change in 1...10 {
                    // Let traffic flow between changes.
                    let before = sent.withLockedValue { $0 }
                    _ = try await eventually { sent.withLockedValue { $0 } >= before + 20 ? true : nil }
                    let invalid = change % 2 == 0
                    if invalid {
                        let broken = change % 4 == 0 ? "listeners: [" : Self.yaml(mockURL: mock.url, models: ["stable"]).replacingOccurrences(of: "backend: mock", with: "backend: missing")
                        try broken.write(toFile: path, atomically: true, encoding: .utf8)
                    } else {
                        try Self.yaml(mockURL: mock.url, models: ["stable", "model-\(change)"]).write(toFile: path, atomically: true, encoding: .utf8)
                    }
                    // Alternate the triggers: the admin endpoint and the runtime's own call share one queue.
                    let reloaded: Bool
                    if change % 3 == 0 {
                        let reply = try await TestHTTP.request(admin + "/reload", method: .POST, headers: [])
                        reloaded = reply.status == 200
                        #expect((reply.json?["status"] as? String) == (invalid ? "refused" : "reloaded"), "\(change): \(reply.body)")
                    } else {
                        reloaded = await gateway.runtime.reload().succeeded
                    }
                    #expect(reloaded == !invalid, "change \(change)")
                    if !invalid {
                        valid += 1
                        #expect(try await TestHTTP.chat(base, model: "model-\(change)").status == 200, "change \(change)")
                        if change > 1 { #expect(try await TestHTTP.chat(base, model: "model-\(change - 2)").status == 404) }
                    } else if change > 1 {
                        // The previous config keeps serving.
                        #expect(try await TestHTTP.chat(base, model: "model-\(change - 1)").status == 200, "change \(change)")
                    }
                }
                stop.withLockedValue { $0 = true }
                await load.value
                #expect(failures.withLockedValue { $0 }.isEmpty, "\(failures.withLockedValue { $0.prefix(5) })")
                #expect(sent.withLockedValue { $0 } >= 200)
                let config = try await TestHTTP.request(admin + "/config", method: .GET, headers: [])
                let reloads = config.json?["reloads"] as? [String: Int]
                #expect(reloads == ["succeeded": valid, "failed": 10 - valid])
                await gateway.stop()
            } catch {
                await gateway.stop()
                throw error
            }
        }
    }

    @Test func listenerChangesAreAppliedOrRefusedNeverIgnored() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try await MockProcess.start()
            defer { mock.stop() }
            let path = dir + "/gw.yaml"
            func write(_ listeners: String) throws {
                try Self.yaml(mockURL: mock.url, models: ["demo-chat"], listeners: listeners).write(toFile: path, atomically: true, encoding: .utf8)
            }
            try write("  - { name: main, address: 127.0.0.1:0 }")
            let gateway = try await GatewayHarness.start(configPath: path)
            do {
                let main = gateway.runtime.listenerPorts[0]
                // A listener added by a reload answers at once.
                try write("  - { name: main, address: 127.0.0.1:0 }\n  - { name: extra, address: 127.0.0.1:0 }")
                #expect(await gateway.runtime.reload().succeeded)
                let ports = gateway.runtime.listenerPorts
                #expect(ports.count == 2 && ports[0] == main)
                #expect(try await TestHTTP.chat("http://127.0.0.1:\(ports[1])").status == 200)
                // One that is removed stops accepting; the others keep serving.
                try write("  - { name: extra, address: 127.0.0.1:0 }")
                #expect(await gateway.runtime.reload().succeeded)
                #expect(gateway.runtime.listenerPorts == [ports[1]])
                await #expect(throws: (any Error).self) { _ = try await RawConnection.connect(port: main) }
                #expect(try await TestHTTP.chat("http://127.0.0.1:\(ports[1])").status == 200)
                // A listener that cannot bind refuses the whole reload, naming the address.
                try write("  - { name: extra, address: 127.0.0.1:0 }\n  - { name: taken, address: 127.0.0.1:\(mock.port) }")
                guard case .refused(let problems) = await gateway.runtime.reload() else {
                    Issue.record("a reload onto a busy port was accepted")
                    await gateway.stop()
                    return
                }
                let text = problems.map(\.description).joined(separator: "\n")
                #expect(text.contains("cannot listen on 127.0.0.1:\(mock.port)"), "\(text)")
                #expect(text.contains("Address already in use"), "\(text)")
                #expect(gateway.runtime.listenerPorts == [ports[1]])
                #expect(try await TestHTTP.chat("http://127.0.0.1:\(ports[1])").status == 200)
                await gateway.stop()
            } catch {
                await gateway.stop()
                throw error
            }
        }
    }

    @Test func aRenamedListenerKeepsItsSocketAndNoReloadRunsOnceTheStopBegan() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try await MockProcess.start(["--chunks", "20", "--chunk-delay-ms", "100"])
            defer { mock.stop() }
            // A free port of our own choosing (a renamed listener keeps a fixed address).
            let probe = try await EmbeddedHTTPServer.start(host: "127.0.0.1", port: 0, group: MultiThreadedEventLoopGroup.singleton) { _, w in
                w.respondJSON("{}")
            }
            let port = probe.port
            await probe.close()
            let path = dir + "/gw.yaml"
            func write(_ name: String) throws {
                try Self.yaml(mockURL: mock.url, models: ["demo-chat"], listeners: "  - { name: \(name), address: 127.0.0.1:\(port) }")
                    .write(toFile: path, atomically: true, encoding: .utf8)
            }
            try write("old-name")
            let gateway = try await GatewayHarness.start(configPath: path)
            let base = "http://127.0.0.1:\(port)"
            try write("new-name")
            #expect(await gateway.runtime.reload().succeeded)
            #expect(try await TestHTTP.chat(base).status == 200)
            // A stream keeps the drain busy; a reload asked for meanwhile is refused.
            let stream = try await RawConnection.connect(port: port)
            let body = #"{"model":"demo-chat","messages":[{"role":"user","content":"hi"}],"stream":true}"#
            try await stream.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            _ = try await stream.waitFor("data: {")
            let stopping = Task { await gateway.stop() }
            _ = try await eventually { gateway.runtime.readiness.isDraining ? true : nil }
            #expect(await !gateway.runtime.reload().succeeded)
            await stopping.value
            // The stop has ended; the client's side may not have read the last bytes yet.
            #expect(try await stream.waitForClose())
        }
    }

    @Test func theAdminListenerCapsItsConnections() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try await MockProcess.start()
            defer { mock.stop() }
            let path = dir + "/gw.yaml"
            try Self.yaml(mockURL: mock.url, models: ["demo-chat"]).write(toFile: path, atomically: true, encoding: .utf8)
            let gateway = try await GatewayHarness.start(configPath: path)
            do {
                let adminPort = gateway.runtime.admin!.port
                var held: [RawConnection] = []
                for _ in 0..<300 { held.append(try await RawConnection.connect(port: adminPort)) }
                // Beyond the cap (256) connections are closed at once, so clients cannot take
                // the process's file descriptors through the admin port.
                let refused = try await eventually { () -> Int? in
                    let closed = held.filter(\.isClosedByPeer).count
                    return closed >= 44 ? closed : nil
                }
                #expect(refused <= 50)
                for connection in held { await connection.close() }
                let health = try await eventually { () -> Int? in
                    let reply = try? await TestHTTP.request("http://127.0.0.1:\(adminPort)/healthz", method: .GET, headers: [])
                    return reply?.status == 200 ? 200 : nil
                }
                #expect(health == 200)
                await gateway.stop()
            } catch {
                await gateway.stop()
                throw error
            }
        }
    }

    @Test func aChangedAccessLogIsAppliedAndOneThatCannotOpenIsRefused() async throws {
        try await withTemporaryDirectory { dir in
            let mock = try await MockProcess.start()
            defer { mock.stop() }
            let path = dir + "/gw.yaml"
            func write(log: String, admin: String = "127.0.0.1:0") throws {
                try Self.yaml(mockURL: mock.url, models: ["demo-chat"], accessLog: log, admin: admin)
                    .write(toFile: path, atomically: true, encoding: .utf8)
            }
            try write(log: "first.log")  // relative: resolved against the config's folder
            let gateway = try await GatewayHarness.start(configPath: path)
            do {
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-request-id", "before-1")]).status == 200)
                try write(log: dir + "/second.log")
                #expect(await gateway.runtime.reload().succeeded)
                #expect(try await TestHTTP.chat(gateway.baseURL, extraHeaders: [("x-request-id", "after-1")]).status == 200)
                let second = try await eventually { () -> String? in
                    let text = (try? String(contentsOfFile: dir + "/second.log", encoding: .utf8)) ?? ""
                    return text.contains("after-1") ? text : nil
                }
                #expect(!second.contains("before-1"))
                let first = try String(contentsOfFile: dir + "/first.log", encoding: .utf8)
                #expect(first.contains("before-1") && !first.contains("after-1"))

                try write(log: dir + "/no-such-folder/third.log")
                guard case .refused(let problems) = await gateway.runtime.reload() else {
                    Issue.record("an access log that cannot be created was accepted")
                    await gateway.stop()
                    return
                }
                #expect(problems.map(\.description).joined().contains("accessLog.destination"))
                // Changing the admin address cannot be applied while it serves: refused, said so.
                try write(log: dir + "/second.log", admin: "127.0.0.1:1")
                guard case .refused(let adminProblems) = await gateway.runtime.reload() else {
                    Issue.record("an admin address change was accepted")
                    await gateway.stop()
                    return
                }
                #expect(adminProblems.map(\.path) == ["admin.address"])
                // Turning tracing on needs a restart too (the exporter is built once).
                let tracing = "tracing: { endpoint: \"http://127.0.0.1:4318/v1/traces\" }\n"
                try (tracing + Self.yaml(mockURL: mock.url, models: ["demo-chat"], accessLog: dir + "/second.log"))
                    .write(toFile: path, atomically: true, encoding: .utf8)
                guard case .refused(let tracingProblems) = await gateway.runtime.reload() else {
                    Issue.record("a tracing change was accepted")
                    await gateway.stop()
                    return
                }
                #expect(tracingProblems.map(\.path) == ["tracing"])
                #expect(try await TestHTTP.chat(gateway.baseURL).status == 200)
                await gateway.stop()
            } catch {
                await gateway.stop()
                throw error
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One pooled connection and its reconnect loop. Its state machine is touched only on its own
/// event loop; the channel (when ready) is read from any loop through a lock.
final class RedisLink: @unchecked Sendable {
    let loop: any EventLoop
    let configuration: RedisClientConfiguration
    /// Set once by the client before ``start()``.
    weak var client: RedisClient?
    /// On `loop` only.
    private var machine = RedisLinkStateMachine()
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)
    private var reconnectTask: Scheduled<Void>?
    /// Why the last attempt failed or the last connection ended (on `loop` only).
    private var cause = "not connected yet"
    /// Channels written to in this loop tick, flushed at its end (on `loop` only).
    private var unflushed: [any Channel] = []

    init(loop: any EventLoop, configuration: RedisClientConfiguration) {
        self.loop = loop
        self.configuration = configuration
    }

    var isReady: Bool { self.channel.withLockedValue { $0 != nil } }

    func start() {
        self.loop.execute { self.perform(self.machine.start()) }
    }

    func shutdown() async {
        let closing: EventLoopFuture<Void> = self.loop.submit {
            self.reconnectTask?.cancel()
            self.perform(self.machine.shutdown())
        }
        try? await closing.get()
    }

    func send(_ bytes: ByteBuffer, on loop: any EventLoop, timeout: TimeAmount) -> EventLoopFuture<RESPValue> {
        guard let channel = self.channel.withLockedValue({ $0 }) else { return loop.makeFailedFuture(RedisError.unavailable) }
        let promise = loop.makePromise(of: RESPValue.self)
        // A late answer after the timeout is ignored (a completed promise ignores a second result).
        let timer = loop.scheduleTask(in: timeout) { [self] in
            promise.fail(RedisError.timeout)
            self.stalled(channel)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        let request = RedisChannelHandler.Request(bytes: bytes, promise: promise)
        if channel.eventLoop.inEventLoop {
            self.enqueue(request, on: channel)
        } else {
            channel.eventLoop.execute { self.enqueue(request, on: channel) }
        }
        return promise.futureResult
    }

    /// Writes now and flushes once at the end of the loop's tick: the commands of every request
    /// the tick handled leave in one write (pipelining without a syscall per command).
    private func enqueue(_ request: RedisChannelHandler.Request, on channel: any Channel) {
        // A write the channel refuses (it closed meanwhile) never reaches the handler's queue:
        // its command fails now rather than at its timeout.
        channel.write(request).whenFailure { _ in request.promise.fail(RedisError.connectionClosed) }
        guard !self.unflushed.contains(where: { $0 === channel }) else { return }
        self.unflushed.append(channel)
        if self.unflushed.count == 1 {
            self.loop.execute {
                let channels = self.unflushed
                self.unflushed.removeAll(keepingCapacity: true)
                for channel in channels { channel.flush() }
            }
        }
    }

    /// No answer in time: the connection is closed (and reconnected), so what waits behind the
    /// stalled command fails now instead of each waiting out its own timeout.
    private func stalled(_ channel: any Channel) {
        self.loop.execute { self.cause = "no answer in time" }
        channel.close(promise: nil)
    }

    private func perform(_ action: RedisLinkStateMachine.Action) {
        self.loop.preconditionInEventLoop()
        switch action {
        case .none: break
        case .connect: self.connect()
        case .markUp: self.client?.linkChanged(up: true)
        case .reconnect(let delay, let wasUp):
            if wasUp { self.client?.linkChanged(up: false, cause: self.cause) } else { self.client?.attemptFailed(cause: self.cause) }
            self.reconnectTask = self.loop.scheduleTask(in: .nanoseconds(delay)) { [self] in
                self.perform(self.machine.reconnectDue())
            }
        case .close:
            let channel = self.channel.withLockedValue { channel -> (any Channel)? in
                defer { channel = nil }
                return channel
            }
            if channel != nil { self.client?.linkChanged(up: false) }
            channel?.close(promise: nil)
        }
    }

    private func connect() {
        let configuration = self.configuration
        ClientBootstrap(group: self.loop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The limiter's replies are small: a server sending more than this is not trusted.
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPDecoder(), maximumBufferSize: 1 << 20))
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler())
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .flatMap { channel in
                self.handshake(channel).map { channel }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    guard self.machine.state != .shutdown else {
                        channel.close(promise: nil)
                        return
                    }
                    self.channel.withLockedValue { $0 = channel }
                    channel.closeFuture.whenComplete { [self] _ in
                        self.loop.execute {
                            let wasCurrent = self.channel.withLockedValue { current -> Bool in
                                guard current === channel else { return false }
                                current = nil
                                return true
                            }
                            guard wasCurrent else { return }
                            if self.cause != "no answer in time" { self.cause = "connection closed" }
                            self.client?.linkChanged(up: false, cause: self.cause)
                            // Counted down just now: the machine's action must not count it again.
                            if case .reconnect(let delay, _) = self.machine.closed(jitter: Double.random(in: 0..<1)) {
                                self.perform(.reconnect(afterNanos: delay, wasUp: false))
                            }
                        }
                    }
                    self.cause = "connection closed"
                    self.perform(self.machine.connected())
                case .failure(let error):
                    self.cause = Self.cause(of: error)
                    self.perform(self.machine.connectFailed(jitter: Double.random(in: 0..<1)))
                }
            }
    }

    /// AUTH, SELECT and SCRIPT LOAD, pipelined; any error reply fails the connection.
    private func handshake(_ channel: any Channel) -> EventLoopFuture<Void> {
        var commands: [RESPCommand] = []
        let configuration = self.configuration
        if let password = configuration.password {
            var auth = RESPCommand("AUTH")
            if let username = configuration.username { auth.append(username) }
            auth.append(password)
            commands.append(auth)
        }
        if let database = configuration.database, database != 0 {
            var select = RESPCommand("SELECT")
            select.append(database)
            commands.append(select)
        }
        for script in configuration.scripts {
            var load = RESPCommand("SCRIPT")
            load.append("LOAD")
            load.append(script)
            commands.append(load)
        }
        if commands.isEmpty { commands.append(RESPCommand("PING")) }
        let loop = channel.eventLoop
        let answers = commands.map { command -> EventLoopFuture<RESPValue> in
            let promise = loop.makePromise(of: RESPValue.self)
            channel.write(RedisChannelHandler.Request(bytes: command.encoded, promise: promise), promise: nil)
            return promise.futureResult
        }
        channel.flush()
        let timer = loop.scheduleTask(in: configuration.handshakeTimeout) { channel.close(promise: nil) }
        let scriptCount = configuration.scripts.count
        let all = EventLoopFuture.whenAllSucceed(answers, on: loop)
        all.whenComplete { _ in timer.cancel() }
        return all.flatMapThrowing { values in
            for value in values {
                if case .error(let message) = value { throw RedisError.protocolError("handshake refused: \(Self.firstWord(message))") }
            }
            let digests = values.suffix(scriptCount).compactMap(\.string)
            if digests.count == scriptCount { self.client?.digests.withLockedValue { $0 = digests } }
        }
    }

    /// A short cause for the log: the handshake's refusal code, or what the connect met.
    static func cause(of error: any Error) -> String {
        switch error {
        case RedisError.protocolError(let message): return message
        case RedisError.connectionClosed: return "closed during the handshake (or it timed out)"
        case let error as NIOConnectionError:
            guard let first = error.connectionErrors.first?.error else { return "cannot connect: no address for the host" }
            return Self.cause(of: first)
        case let error as IOError: return "cannot connect: " + String(cString: strerror(error.errnoCode))
        case is ChannelError: return "cannot connect (timed out)"
        default: return "cannot connect"
        }
    }

    /// An error reply's code (`WRONGPASS`, `NOAUTH`): never the rest, which may echo input.
    static func firstWord(_ message: String) -> String {
        String(message.prefix { $0 != " " }.prefix(32))
    }
}

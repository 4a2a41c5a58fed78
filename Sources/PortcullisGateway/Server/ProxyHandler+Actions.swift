import NIOCore
import NIOHTTP1
import PortcullisConfig
import PortcullisCore

/// Carrying out the lifecycle machine's actions, and what follows a settled exchange.
extension ProxyHandler {
    // MARK: Carrying out the machine's actions

    func perform(_ action: LifecycleStateMachine.Action) {
        switch action {
        case .none:
            return
        case .runStages(let pass, let from), .resumeStages(let pass, let from):
            self.runStages(pass, from: from)
        case .sendContinue:
            guard let exchange = self.exchange else { return }
            self.writeToClient(.head(HTTPResponseHead(version: exchange.head.version, status: .continue), .none), flush: true)
        case .dispatch:
            self.dispatch()
        case .connect(let token):
            self.connect(token, fresh: false)
        case .retryOnFreshConnection(let token):
            self.connect(token, fresh: true)
        case .retryNow(let token, let abandon):
            if abandon { self.cleanUp(.abandonUpstream) }
            self.connect(token, fresh: false)
        case .retryLater(let abandon):
            if abandon { self.cleanUp(.abandonUpstream) }
        case .writeRefusal(let error, let closeAfter, let cleanup):
            self.cleanUp(cleanup)
            self.writeRefusal(error, closeAfter: closeAfter)
        case .writeLocalAnswer(let closeAfter):
            self.writeLocalAnswer(closeAfter: closeAfter)
        case .writeResponseHead:
            break  // written by `upstreamResponseHead`, which has the head
        case .writeEnd:
            self.writeEnd()
        case .cutStream(let error):
            self.cutStream(error)
        case .sendKeepAlive:
            self.sendKeepAlive()
        case .pauseUpstreamReads:
            self.upstream?.pauseReads()
        case .resumeUpstreamReads:
            self.upstream?.resumeReads()
        case .settle(let outcome, let next):
            self.settle(outcome)
            self.proceed(next)
        case .next(let next):
            self.proceed(next)
        case .close(let cleanup, let outcome, let abort):
            self.cleanUp(cleanup)
            if let outcome {
                self.captureUsage()
                if let abort { self.exchange?.abortReason = abort }
                self.settle(outcome)
            }
            self.exchange = nil
            self.closeChannel()
        case .abandoned(let cleanup, let outcome):
            self.cleanUp(cleanup)
            self.settle(outcome)
            self.exchange = nil
        }
        // A handler already out of its pipeline (an HTTP/2 stream that waited for its last
        // write) leaves the loop's registry once its exchange has settled.
        if self.context == nil && self.machine.isClosed { self.loop.unregister(self) }
        self.armTimer()
    }

    /// What follows a settled exchange.
    func proceed(_ next: LifecycleStateMachine.Next) {
        self.exchange = nil
        self.sse = nil
        self.usageScanner = nil
        self.textCounter = nil
        self.heldText = HeldResponseText()
        self.usageFilter = nil
        self.scrubber = nil
        self.ceiling = nil
        self.pendingCut = nil
        self.pendingFlush = false
        self.localBody = nil
        switch next {
        case .idle:
            if self.bytesWhileBusy || !self.pipelined.isEmpty {
                // Bytes of the next head came in while this one was answered: its clock starts now.
                self.bytesWhileBusy = false
                self.machine.headBytesArrived(now: self.now())
            }
            self.replayPipelined()
        case .close:
            self.closeChannel()
        case .streamDone, .awaitRequestEnd:
            break
        case .lingerThenClose:
            self.linger()
        }
    }

    /// Replays queued pipelined parts after a response ended.
    func replayPipelined() {
        guard !self.replaying else { return }
        self.replaying = true
        defer { self.replaying = false }
        while self.machine.acceptsRequestParts, let item = self.pipelined.next() {
            switch item {
            case .part(let part):
                self.handle(part)
            case .failure(let error):
                self.pipelined.removeAll()
                self.perform(self.machine.protocolError(error, now: self.now(), timeouts: self.currentTimeouts()))
            }
        }
        if self.pipelined.replayEnded() == .resume { self.updateAutoRead() }
    }

    /// Reads stop while either reason holds (a full pipelining queue, or a head stage waiting).
    func updateAutoRead() {
        guard let context = self.context else { return }
        let paused = self.pipelined.pausedReads || self.readsPausedForStages
        context.channel.setOption(ChannelOptions.autoRead, value: !paused).whenFailure { _ in }
    }

    func currentTimeouts() -> LifecycleStateMachine.Timeouts {
        LifecycleStateMachine.Timeouts((self.exchange?.snapshot ?? self.loop.snapshot()).config.http)
    }
}

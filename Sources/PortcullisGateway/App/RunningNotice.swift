import ServiceLifecycle

/// Calls `notify` once the service group runs (so its stop signals are trapped) and then
/// waits for the graceful stop. `serve` prints its banner from here: once the banner is out,
/// a SIGTERM drains instead of ending the process at once.
struct RunningNotice: Service {
    let notify: @Sendable () -> Void

    func run() async {
        self.notify()
        try? await gracefulShutdown()
    }
}

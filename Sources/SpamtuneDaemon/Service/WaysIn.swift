/// The ways in spamtuned starts, in order. Each returns nil when the configuration turns
/// it off.
public enum WaysIn {
    public static let all: [(DaemonContext) throws -> WayIn?] = [
        MilterServer.make,
        SpamdServer.make,
        MaildirWatcher.make,
        ControlServer.make,
        MetricsServer.make,
    ]
}

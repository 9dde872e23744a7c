import SpamtuneSupport

/// spamtuned's command line: its options (the parser and the usage text come from this
/// table, and so does spamtuned(8)) and the exit status of a configuration it refuses.
public enum DaemonCommandLine {
    public static let table: [CommandLineOption] = [
        .init("config", "FILE", "the configuration (default \(SpamtunePaths.configurationFile))", section: ""),
        .init("check-config", nil, "read and check the configuration and the checkpoint, then exit", section: ""),
    ]

    public static let specification = ArgumentSpecification(table)

    public static let usage = "usage: spamtuned [--config FILE] [--check-config]\n\n" + (table + CommandLineOption.everyTool).usageText(helpColumn: 20, unsectionedIndent: 2)

    /// EX_CONFIG, for anything the admin must change before a start can work (the
    /// configuration, a name or socket it uses, a second daemon): systemd's unit does not
    /// restart on it, where it would on 1.
    public static let configurationErrorStatus: Int32 = 78

    public static let exitStatuses: [ExitStatus] = [
        .init(0, "stopped", "stopped by SIGTERM or SIGINT after finishing the messages under way; or --check-config found nothing wrong"),
        .init(1, "failed", "the model could not be loaded, or a system call failed at start (a restart may help)"),
        CommandLineTool.usageMistake,
        .init(configurationErrorStatus, "configuration", """
            EX_CONFIG: the configuration is wrong (the message names the file and line), a user or group it names \
            does not exist, the socket units disagree with it, a socket is served by another process, or another \
            spamtuned holds the state directory. systemd does not restart spamtuned on it
            """),
    ]
}

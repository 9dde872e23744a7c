// SpamtuneDaemon: see README's module map.

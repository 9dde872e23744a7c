// SpamtuneMail: see README's module map.

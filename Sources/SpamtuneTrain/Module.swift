// SpamtuneTrain: see README's module map.

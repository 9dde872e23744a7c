// SpamtuneTokenizer: see README's module map.

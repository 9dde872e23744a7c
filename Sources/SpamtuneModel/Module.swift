// SpamtuneModel: see README's module map.

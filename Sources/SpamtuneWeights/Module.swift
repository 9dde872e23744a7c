// SpamtuneWeights: see README's module map.

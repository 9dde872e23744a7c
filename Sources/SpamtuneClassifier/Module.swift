// SpamtuneClassifier: see README's module map.

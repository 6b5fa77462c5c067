"""Galactive's application layer: CLI, worker and web app composing ``bayes`` and ``storage``."""

"""Persistence for Galactive: SQL models, migrations, the array store and ingest.

This package never imports ``bayes`` or ``app``.
"""

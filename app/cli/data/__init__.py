"""``galactive mock``, ``ingest`` and ``status``: a survey's data in and its counts out."""

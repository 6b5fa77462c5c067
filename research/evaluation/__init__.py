"""``python -m research evaluate``: the evaluation grid of model variants on a survey (run), its
JSON record and evaluation.md (markdown), the classical floor and the sequential-update
comparison.
"""

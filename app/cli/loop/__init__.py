"""``galactive worker`` / ``retrain`` and ``followup``: the retrain loop and tonight's follow-up
plan.
"""

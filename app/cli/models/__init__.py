"""``galactive train``, ``score``, ``report`` and ``experiment``: fit, score, judge and measure
model versions.
"""

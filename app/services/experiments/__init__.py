"""``galactive experiment``: strategies against random on a survey with truth (run), the verdict
and summary, plots, oracle references and stopping rules.
"""

"""``galactive experiment``: strategies against random on a survey with truth (run), the verdict
and summary, plots and the stopping rule. Oracle references live in ``research``.
"""

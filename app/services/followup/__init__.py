"""Spectroscopic follow-up: tonight's plan under a telescope budget (plan), target lists (export)
and the admin page's actions (admin). Its evaluation against simpler rules lives in ``research``.
"""

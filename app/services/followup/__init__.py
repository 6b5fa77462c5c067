"""Spectroscopic follow-up: tonight's plan under a telescope budget (plan), target lists (export),
the admin page's actions (admin) and the planner measured against simpler rules (evaluation).
"""

"""Services by domain; each takes a session or an engine (or settings) and returns plain data.

Pages and the CLI call these: data, models, loop, followup, reports, experiments, and auth.
Figures live with the reports and experiments that draw them.
"""

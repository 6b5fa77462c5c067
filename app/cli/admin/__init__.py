"""``galactive init`` / ``db``, ``user`` and ``serve``: an installation's database, its users and
its web app.
"""

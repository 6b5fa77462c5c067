"""Functions that take a session and return plain data; pages and the CLI call these."""

"""Streamlit's options for the served app, set by ``app/web/asgi.py`` before it starts."""

from __future__ import annotations

from app.services.followup.admin import MAX_UPLOAD_BYTES

# Headless, no usage statistics (the browser would call data.streamlit.io), no file watching,
# errors shown without tracebacks, and uploads over the follow-up page's limit refused by
# the server (Streamlit's default is 200 MB; the uploader's max_upload_size binds only the
# browser). A rerun asked for while the script runs waits for it to finish instead of
# cutting it short: the label page applies a burst of keys in one run and always gets as far
# as sending the next galaxies (cut short at every key, it fell behind at five keys a second).
OPTIONS = {
    "server.headless": True,
    "server.fileWatcherType": "none",
    "browser.gatherUsageStats": False,
    "client.showErrorDetails": "none",
    "client.toolbarMode": "viewer",
    "server.maxUploadSize": MAX_UPLOAD_BYTES // 2**20,
    "runner.fastReruns": False,
}

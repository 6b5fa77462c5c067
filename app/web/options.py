"""Streamlit's options for the served app, set by ``app/web/asgi.py`` before it starts."""

from __future__ import annotations

from app.services.followup.admin import MAX_UPLOAD_BYTES

# Headless, no usage statistics (the browser would call data.streamlit.io), no file watching,
# errors shown without tracebacks, and uploads over the follow-up page's limit refused by
# the server (Streamlit's default is 200 MB; the uploader's max_upload_size binds only the
# browser).
OPTIONS = {
    "server.headless": True,
    "server.fileWatcherType": "none",
    "browser.gatherUsageStats": False,
    "client.showErrorDetails": "none",
    "client.toolbarMode": "viewer",
    "server.maxUploadSize": MAX_UPLOAD_BYTES // 2**20,
}

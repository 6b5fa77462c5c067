"""ASGI middleware in front of Streamlit: security headers, no public metrics, no anonymous
uploads. What Streamlit's own options cannot say (docs/security.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from app.web.admission import role_of

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# What the app's own pages need (Streamlit's scripts and inline styles, Vega's compiled
# expressions, the label deck's module, which Streamlit loads from a blob: URL the page
# itself made, images as data: and blob: URLs) and nothing from other origins: a name that
# slipped through as markdown still could not fetch an outside image. No framing at all.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self' ws: wss:; worker-src 'self' blob:; frame-src 'self' blob: data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
METRICS = "/_stcore/metrics"
UPLOAD = "/_stcore/upload_file/"


class Guard:
    """Refuses ``/_stcore/metrics`` (404) and uploads from sessions not signed in as an admin
    (403, before the body is read); adds :data:`HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.endswith(METRICS):
            await _refuse(send, 404, b"not found")
            return
        if UPLOAD in path and scope["method"] in ("PUT", "POST"):
            session_id = path.split(UPLOAD, 1)[1].split("/", 1)[0]
            if role_of(session_id) != "admin":
                await _refuse(send, 403, b"sign in as an admin to upload")
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + HEADERS})
    await send({"type": "http.response.body", "body": body})

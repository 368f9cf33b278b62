"""The clinician console (``web/console``), served as built files under ``/console``.

The console is a single-page app built by Vite with ``base: '/console/'``; its client-side
routes (``/console/beds/H1``) all answer ``index.html``. Hashed build assets
(``/console/assets/index-3f9a1c.js``) never change under one name, so browsers may keep them
for a year; ``index.html`` must be revalidated on every load, so a new build is picked up.

Where the build is: ``server.console_dir`` when configured (an installed wheel does not
contain the console), else ``web/console/dist`` in the repository the hub package runs from.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from quart import Blueprint, Response, send_from_directory
from werkzeug.exceptions import NotFound

from hub.api.common import json_response
from hub.runtime import HubContext

CONFIG_KEY = "server.console_dir"
REPO_DIST = Path(__file__).resolve().parents[2] / "web" / "console" / "dist"
NOT_BUILT = {
    "error": "console not built",
    "hint": "npm ci --prefix web && npm run build --prefix web/console",
}
IMMUTABLE = "public, max-age=31536000, immutable"
# The console talks only to the hub it came from (HTTP and Socket.IO).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def console_dir(hub: HubContext) -> Path:
    """The configured build directory, or the repository's ``web/console/dist``."""
    configured = hub.config.server.console_dir
    return Path(configured) if configured else REPO_DIST


def blueprint(hub: HubContext, directory: Path | None = None) -> Blueprint:
    bp = Blueprint("console", __name__)

    async def index(root: Path) -> Response:
        response = await send_from_directory(root, "index.html")
        response.headers["Cache-Control"] = "no-cache"
        response.headers.update(SECURITY_HEADERS)
        return response

    @bp.get("/console")
    @bp.get("/console/")
    @bp.get("/console/<path:path>")
    async def console(path: str = "") -> Response:
        # resolved per request: building the console does not need a hub restart
        root = directory or console_dir(hub)
        if not (root / "index.html").is_file():
            return json_response(NOT_BUILT, 404)
        parts = PurePosixPath(path).parts
        if not path or path == "index.html":
            return await index(root)
        try:
            response = await send_from_directory(root, path)
        except NotFound:
            # a missing asset is a 404, not the app: a script must never get HTML instead
            if parts[0] == "assets" or (len(parts) == 1 and "." in parts[0]):
                return json_response({"error": "not_found", "detail": "no such file"}, 404)
            return await index(root)  # a client-side route
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = IMMUTABLE if parts[0] == "assets" else "no-cache"
        return response

    return bp

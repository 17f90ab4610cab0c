"""Security headers on every response of the operations center: X-Frame-Options and nosniff everywhere, and on each
HTML page (Bokeh's documents as well as /login) a Content-Security-Policy whose scripts are only the page's own,
marked with a per-response nonce, so markup that slips into a page cannot run (no inline handlers, no injected
scripts)."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from tornado import httputil
from tornado.web import OutputTransform

_SCRIPT = re.compile(rb"<script(?=[\s>])", re.IGNORECASE)


def policy(nonce: str, tile_url: str = "") -> str:
    """The Content-Security-Policy of one page: scripts by nonce (and same-origin files), same-origin data."""
    tiles = ""
    if tile_url:
        parts = urlsplit(tile_url.replace("{", "").replace("}", ""))
        tiles = f" {parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    return "; ".join((
        "default-src 'self'", f"script-src 'self' 'nonce-{nonce}'", "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob:{tiles}", "font-src 'self' data:", "connect-src 'self'", "object-src 'none'",
        "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'",
    ))  # fmt: skip


def headers_transform(tile_url: str = "") -> type[OutputTransform]:
    """A Tornado output transform adding the headers (pass it to `Application.add_transform`)."""

    class SecurityHeaders(OutputTransform):
        nonce = b""

        def transform_first_chunk(
            self, status_code: int, headers: httputil.HTTPHeaders, chunk: bytes, finishing: bool
        ) -> tuple[int, httputil.HTTPHeaders, bytes]:
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("X-Content-Type-Options", "nosniff")
            html = headers.get("Content-Type", "").startswith("text/html")
            if html and "Content-Security-Policy" not in headers:
                nonce = secrets.token_urlsafe(18)
                self.nonce = nonce.encode()
                headers["Content-Security-Policy"] = policy(nonce, tile_url)
                chunk = self.transform_chunk(chunk, finishing)
                if "Content-Length" in headers:
                    headers["Content-Length"] = str(len(chunk))
            return status_code, headers, chunk

        def transform_chunk(self, chunk: bytes, finishing: bool) -> bytes:
            if not self.nonce:
                return chunk
            return _SCRIPT.sub(b'<script nonce="' + self.nonce + b'"', chunk)

    return SecurityHeaders

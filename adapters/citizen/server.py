"""The citizen service: the H5 pages and the Open311 routes on one aiohttp application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from adapters.citizen import login, open311, pages, pages_apply, verify
from adapters.citizen.context import CitizenContext

FORM_FILES = 4  # uploads one form may carry at the largest size


@web.middleware
async def _headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Pages are never cached or framed elsewhere."""
    resp = await handler(request)
    if request.path.startswith("/h5"):
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    return resp


def make_app(ctx: CitizenContext) -> web.Application:
    """The citizen application: login, pages, applications and Open311 on one context."""
    limit = int(ctx.settings.records.attachment_max_mb * 1024 * 1024 * FORM_FILES) + 1024 * 1024
    app = web.Application(client_max_size=limit, middlewares=[_headers])
    app.add_routes(login.routes(ctx))
    app.add_routes(pages.routes(ctx))
    app.add_routes(pages_apply.routes(ctx))
    app.add_routes(open311.routes(ctx))
    app.add_routes(verify.routes(ctx))
    return app


async def serve(ctx: CitizenContext, host: str, port: int) -> web.AppRunner:
    """Start the citizen service on host:port; the caller cleans the runner up."""
    runner = web.AppRunner(make_app(ctx), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner

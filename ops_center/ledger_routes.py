"""Every route of the ledger API and the attachment download, for the server's extra patterns."""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler

from ops_center.context import OpsContext
from ops_center.ledger_api import record_patterns
from ops_center.ledger_api_files import file_patterns


def patterns(ctx: OpsContext) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    """The ledger API's routes (records, then files) with the context each handler takes."""
    return record_patterns(ctx) + file_patterns(ctx)

"""Slow reads for a page without holding its document lock: load in a task, draw on the next tick under the lock.

A coroutine run as a Panel periodic or onload callback holds (or, for onload, lacks) the Bokeh document lock for its
whole run; a slow ClickHouse query or a hung Ray part would then freeze that browser session, or its model changes
would be refused. `Loader` runs the read as a plain task and hands the result to a synchronous draw function through
`add_next_tick_callback`, which Bokeh runs with the lock held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Generic, TypeVar

import panel as pn

T = TypeVar("T")
log = logging.getLogger(__name__)


class Loader(Generic[T]):
    """One page's background read: at most one at a time; its result drawn on the document's next tick."""

    def __init__(self, load: Callable[[], Awaitable[T]], draw: Callable[[T], None]) -> None:
        self.load, self.draw = load, draw
        self.doc: Any = pn.state.curdoc
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin a read unless one is still running (a stalled part must not pile up reads)."""
        if self.task is not None and not self.task.done():
            return
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            result = await self.load()
        except Exception:
            log.exception("background read of a page failed")
            return
        if self.doc is None or self.doc.session_context is None:  # no server session (tests): draw now
            self.draw(result)
            return
        try:
            self.doc.add_next_tick_callback(partial(self.draw, result))
        except Exception:  # the session closed while reading: nothing to draw on
            log.debug("page closed before its background read finished")

"""The 一张图 map's ledger layers: every declared ledger with a map layer (emergency resources, homestays, water
works, garbage points …), filtered by the map's township and by layer like the device kinds; one session's state."""

from __future__ import annotations

import asyncio
import html
import logging
from typing import Any

import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, TapTool

from ledgers.query import points
from ledgers.schema import Ledger
from ops_center.live import mercator
from ops_center.session import OpsSession

log = logging.getLogger(__name__)


def _cols(rows: list[dict[str, Any]], title: str) -> dict[str, list[Any]]:
    xy = [mercator(r["lat"], r["lon"]) for r in rows]
    return {"x": [p[0] for p in xy], "y": [p[1] for p in xy], "id": [r["id"] for r in rows],
            "title": [r["title"] for r in rows], "village": [r["village"] for r in rows],
            "layer": [title] * len(rows)}  # fmt: skip


class LedgerLayers(param.Parameterized):
    """One session's ledger layers: which are shown, their points in the map's township, what was clicked."""

    shown = param.ListSelector(default=[], objects=[], doc="Keys of the ledger layers drawn.")
    township = param.String(default="全部", doc="The map's township filter.")
    selected = param.String(default="", doc="`ledger/id` of the clicked point.")

    def __init__(self, session: OpsSession, **params: Any) -> None:
        super().__init__(**params)
        self.session, self.store = session, session.ctx.ledgers
        self.ledgers: dict[str, Ledger] = {}
        if self.store is not None:
            self.ledgers = {k: lg for k, lg in self.store.ledgers.ledgers.items()
                            if lg.map is not None and self.store.may(session.user, lg, "read")}  # fmt: skip
        self.param.shown.objects = list(self.ledgers)  # type: ignore[assignment]
        self.shown = list(self.ledgers)
        self.sources = {k: ColumnDataSource(_cols([], "")) for k in self.ledgers}

    def options(self) -> dict[str, str]:
        """Layer labels (Chinese) to ledger keys, for a checkbox group."""
        return {lg.map.label: k for k, lg in self.ledgers.items() if lg.map is not None}

    def _read(self, keys: list[str], township: str) -> dict[str, list[dict[str, Any]]]:
        assert self.store is not None
        town = "" if township == "全部" else township
        return {k: points(self.store, self.session.user, k, township=town) for k in keys}

    @param.depends("shown", "township", watch=True)
    def _refilter(self) -> None:
        pn.state.execute(self.load)

    async def load(self) -> None:
        """Read the shown layers' points (in a thread) and replace the sources; hidden layers are emptied."""
        if self.store is None:
            return
        wanted = [k for k in self.ledgers if k in self.shown]
        try:
            found = await asyncio.to_thread(self._read, wanted, self.township)
        except Exception as exc:  # the device map goes on without the ledger layers
            log.warning("ledger layers unavailable: %s: %s", type(exc).__name__, str(exc)[:200])
            return
        for key, src in self.sources.items():
            lg = self.ledgers[key]
            src.data = _cols(found.get(key, []), lg.map.label if lg.map else "")

    def add_to(self, fig: Any) -> None:
        """Draw each layer on the figure, with a tooltip and a tap that opens the record's summary."""
        renderers = []
        for key, src in self.sources.items():
            layer = self.ledgers[key].map
            assert layer is not None
            renderers.append(fig.scatter("x", "y", source=src, marker=layer.marker, size=11, fill_color=layer.color,
                                         line_color="#ffffff", line_width=1, name=f"ledger-{key}"))  # fmt: skip
            src.selected.on_change("indices", self._picker(key, src))
        if renderers:
            fig.add_tools(HoverTool(renderers=renderers, tooltips=[("名称", "@title"), ("图层", "@layer"),
                                                                   ("村", "@village")]))  # fmt: skip
            fig.add_tools(TapTool(renderers=renderers))

    def _picker(self, key: str, src: ColumnDataSource) -> Any:
        def pick(_attr: str, _old: Any, indices: list[int]) -> None:
            if indices:
                self.selected = f"{key}/{src.data['id'][indices[0]]}"

        return pick

    @param.depends("selected")
    def detail(self) -> pn.viewable.Viewable:
        """The clicked point: its layer, name and a link to its record."""
        if not self.selected:
            return pn.pane.HTML("")
        key, _, rid = self.selected.partition("/")
        src, lg = self.sources[key], self.ledgers[key]
        try:
            title = src.data["title"][list(src.data["id"]).index(rid)]
        except ValueError:
            return pn.pane.HTML("")
        link = f'<a href="/record?ledger={key}&id={html.escape(rid)}">打开台账记录 »</a>'
        name = f"{html.escape(lg.title)}:{html.escape(str(title))}"
        return pn.pane.HTML(f'<div class="zq-layer-detail">{name} {link}</div>')

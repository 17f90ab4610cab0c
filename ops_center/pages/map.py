"""一张图: the county map with every device by status and every open incident by severity, live over the websocket,
and the located ledgers (emergency resources, homestays, water works, garbage points …) as layers."""

from __future__ import annotations

import panel as pn

from ops_center.labels import KIND_ZH, SEVERITY_ZH
from ops_center.ledger_layers import LedgerLayers
from ops_center.map_view import POLL_MS, MapView
from ops_center.session import OpsSession

SLUG = "map"
TITLE = "一张图"
PERMISSION = "view"
ORDER = 10


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The map page of one session."""
    view = MapView(session)
    layers = LedgerLayers(session, township=view.township)
    view.param.watch(lambda e: setattr(layers, "township", e.new), "township")
    # background: a poll that finds nothing new must not raise and lower the page's busy state 4 times a second
    # (that bookkeeping was most of an idle session's cost)
    pn.io.PeriodicCallback(callback=view.update, period=POLL_MS, background=True).start()
    filters = pn.Column(
        pn.widgets.Select.from_param(view.param.township, name="乡镇"),
        pn.widgets.CheckBoxGroup.from_param(view.param.kinds, options={v: k for k, v in KIND_ZH.items()},
                                            name="设备类型", inline=False),
        pn.widgets.CheckBoxGroup.from_param(view.param.severities, options={v: k for k, v in SEVERITY_ZH.items()},
                                            name="事件级别", inline=False),
        pn.widgets.CheckBoxGroup.from_param(layers.param.shown, options=layers.options(), name="台账图层",
                                            inline=False, visible=bool(layers.ledgers)),
        view.counts, pn.layout.Divider(), view.detail, layers.detail, width=260,
    )  # fmt: skip
    fig = view.figure()
    layers.add_to(fig)
    pn.state.onload(layers.load)
    return pn.Row(filters, pn.pane.Bokeh(fig, sizing_mode="stretch_both"), sizing_mode="stretch_both")

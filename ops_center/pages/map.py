"""一张图: the county map with every device by status and every open incident by severity, live over the websocket."""

from __future__ import annotations

import panel as pn

from ops_center.labels import KIND_ZH, SEVERITY_ZH
from ops_center.map_view import POLL_MS, MapView
from ops_center.session import OpsSession

SLUG = "map"
TITLE = "一张图"
PERMISSION = "view"
ORDER = 10


def build(session: OpsSession) -> pn.viewable.Viewable:
    """The map page of one session."""
    view = MapView(session)
    # background: a poll that finds nothing new must not raise and lower the page's busy state 4 times a second
    # (that bookkeeping was most of an idle session's cost)
    pn.io.PeriodicCallback(callback=view.update, period=POLL_MS, background=True).start()
    filters = pn.Column(
        pn.widgets.Select.from_param(view.param.township, name="乡镇"),
        pn.widgets.CheckBoxGroup.from_param(view.param.kinds, options={v: k for k, v in KIND_ZH.items()},
                                            name="设备类型", inline=False),
        pn.widgets.CheckBoxGroup.from_param(view.param.severities, options={v: k for k, v in SEVERITY_ZH.items()},
                                            name="事件级别", inline=False),
        view.counts, pn.layout.Divider(), view.detail, width=260,
    )  # fmt: skip
    return pn.Row(filters, pn.pane.Bokeh(view.figure(), sizing_mode="stretch_both"), sizing_mode="stretch_both")

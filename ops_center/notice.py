"""Messages for the person at the screen as plain text: whatever words they quote (ids from a link, a desk's reason,
a name someone typed) are escaped, never rendered as Markdown or HTML."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

COLOURS = {"danger": ("#fdecea", "#a61b1b"), "success": ("#e8f5e9", "#1b5e20"), "info": ("#e8f0fe", "#174ea6")}


def notice_html(text: str, kind: str = "danger") -> str:
    """A message box whose words are plain text."""
    bg, fg = COLOURS[kind]
    return (
        f'<div class="zq-notice zq-notice-{kind}" role="alert" style="background:{bg};color:{fg};'
        f'padding:8px 12px;border-radius:4px;white-space:pre-wrap">{html.escape(text)}</div>'
    )


def notice(text: str, kind: str = "danger", **params: Any) -> pn.pane.HTML:
    """A pane showing `notice_html` (set `.object = notice_html(...)` to change it)."""
    return pn.pane.HTML(notice_html(text, kind), **params)

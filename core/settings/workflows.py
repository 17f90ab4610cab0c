"""The `workflows` section: which villages run which declared items, and the citizen service's edge."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from core.settings.section import Section

KEY_VILLAGES = ["各皂坝村", "杰迪村", "狼岔坝村", "土桥子村", "城马村"]  # the plan's five key villages, first online


class WorkflowSettings(Section):
    """Where each item is enabled, where declarations live, and the limits of the citizens' phone end."""

    items_dir: Path | None = Field(
        None, description="Directory of workflow YAML files; unset means workflows/default/."
    )
    villages: dict[str, list[str]] = Field(
        default_factory=lambda: {"*": list(KEY_VILLAGES)},
        description="Item key (or * for every item) -> the villages that run it; an item's own key wins over *. "
        "Enabling an item in a new village is adding the village here.",
    )
    timer_interval_s: float = Field(5.0, gt=0, le=600, description="How often the workflow host runs due timers.")
    citizen_host: str = Field("127.0.0.1", description="Address the citizen service binds to (0.0.0.0 behind a proxy).")
    citizen_port: int = Field(8095, ge=1, le=65535, description="Port of the citizen service (phone H5, Open311).")
    open311_keys: dict[str, str] = Field(
        default_factory=dict, description="Open311 api_key -> the name of the third-party app that holds it."
    )
    otp_ttl_s: int = Field(300, ge=60, le=1800, description="How long a one-time login code stays valid, in seconds.")
    public_url: str = Field(
        "http://127.0.0.1:8095", description="Base URL printed in document QR codes for the public verification page."
    )

"""The off-line replay: scripted frames through the real scene model, perception and camera actor, scored."""

from __future__ import annotations

import pytest

from core.settings import Settings
from sim.video_replay import replay

pytestmark = pytest.mark.skipif(
    not Settings().serve.detector_model("scene").is_file(), reason="scene model not placed (make models)"
)


@pytest.mark.asyncio
async def test_replay_scores_every_episode_and_names_the_misses_and_false_alarms() -> None:
    out = await replay(cameras=2, seconds=150, seed=0, fps=1.0)
    rows = {k: v for k, v in out["scenarios"].items() if k != "all"}
    assert sum(r["episodes"] for r in rows.values()) == out["scenarios"]["all"]["episodes"] >= 2
    for name, row in rows.items():
        lost = [m for m in out["missed"] if m["scenario"] == name]
        assert row["recall"] == (round(1 - len(lost) / row["episodes"], 4) if row["episodes"] else None)
        assert row["false_alarms"] == len([f for f in out["false_alarms"] if f["scenario"] == name])
    assert all(m["camera"] in ("cam-0001", "cam-0002") and m["start_s"] < m["end_s"] for m in out["missed"])

"""The reading model in core: every device kind's reading is found by module, and it is the one its actor applies."""

from __future__ import annotations

import pytest

from actors.kinds import device_kinds
from core.kinds import reading_of, readings


def test_every_actor_kind_applies_the_reading_core_defines() -> None:
    assert set(readings()) == set(device_kinds())
    for kind, cls in device_kinds().items():
        assert cls.reading is reading_of(kind)


def test_an_unknown_kind_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="'tractor'"):
        reading_of("tractor")

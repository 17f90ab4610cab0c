"""Instances and steps sealed at rest (SM4-GCM: forms and opinions hold personal data), and typed back on read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec

from core.personal import Sealer
from workflows.engine import Instance, Step
from workflows.schema import Item

_ENC = msgspec.json.Encoder(decimal_format="string")
_INSTANCE = msgspec.json.Decoder(Instance)
_STEP = msgspec.json.Decoder(Step)


def _typed(item: Item, form: dict[str, Any]) -> dict[str, Any]:
    """Form values from JSON back to their field types (Decimal, date, integer, geo pair)."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        kind = item.field(key).type if key in {f.key for f in item.form} else "text"
        if value is None:
            out[key] = None
        elif kind == "decimal":
            out[key] = Decimal(str(value))
        elif kind == "date":
            out[key] = dt.date.fromisoformat(str(value))
        elif kind == "integer":
            out[key] = int(value)
        elif kind == "geo":
            out[key] = tuple(value)
        else:
            out[key] = value
    return out


class InstanceCodec:
    """Seals and opens the instance and step bodies under one sealer."""

    def __init__(self, sealer: Sealer) -> None:
        self.sealer = sealer

    def seal_instance(self, inst: Instance) -> bytes:
        """The instance as sealed bytes, bound to its id."""
        return self.sealer.seal(_ENC.encode(inst).decode(), f"wf:{inst.id}")

    def open_instance(self, item: Item, iid: str, body: bytes) -> Instance:
        """The instance of sealed bytes, its form typed by the item's declaration."""
        inst = _INSTANCE.decode(self.sealer.open(body, f"wf:{iid}"))
        return msgspec.structs.replace(inst, form=_typed(item, inst.form))

    def seal_step(self, iid: str, step: Step) -> bytes:
        """A step as sealed bytes, bound to its instance and sequence number."""
        return self.sealer.seal(_ENC.encode(step).decode(), f"wf:{iid}:{step.seq}")

    def open_step(self, iid: str, seq: int, body: bytes) -> Step:
        """The step of sealed bytes."""
        return _STEP.decode(self.sealer.open(body, f"wf:{iid}:{seq}"))


def encode(value: Any) -> str:
    """JSON text of a value (decimals as strings)."""
    return _ENC.encode(value).decode()

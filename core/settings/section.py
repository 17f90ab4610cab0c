"""Base class of every settings section: unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A settings section; extra keys are rejected."""

    model_config = ConfigDict(extra="forbid")

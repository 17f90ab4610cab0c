"""Fixtures for the runtime tests."""

from tests.runtime.platform_kit import platform

__all__ = ["platform"]

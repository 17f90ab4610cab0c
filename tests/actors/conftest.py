"""Fixtures for the actors tests."""

from platform_kit import platform

__all__ = ["platform"]

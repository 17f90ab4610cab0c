"""Fixtures for the actors tests."""

from tests.runtime.platform_kit import platform, video_platform

__all__ = ["platform", "video_platform"]

"""Scenario scripts for the camera simulator: timelines, zone geometry, episode and background builders."""

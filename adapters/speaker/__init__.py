"""Remote voice warnings (远程语音) for road advisory stations: requests, synthesis, delivery and the CLI."""

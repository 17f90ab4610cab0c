"""The wiring that starts and stops the whole platform (no logic of its own)."""

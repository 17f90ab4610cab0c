"""Items' own modules: what a declaration can't state (booking availability), found by the item's `module`."""

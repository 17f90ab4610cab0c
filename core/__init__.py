"""Shared schema, settings, ids, geo and gazetteer for the Zhouqu platform."""

"""The operations center: a Panel app with the live county map, incidents and dispatch, device pages and login."""

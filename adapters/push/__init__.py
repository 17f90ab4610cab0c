"""Push dispatch to responders' phones: websocket server, SMS outbox fallback and the responder page."""

"""Device-facing ingest: the HTTP/websocket gateway, the watch TCP server and the stream publisher."""

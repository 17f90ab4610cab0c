"""The platform's edges: device protocols in, Redis Streams, ClickHouse, push out."""

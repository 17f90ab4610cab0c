"""The workflow engine: declared items (事项) with states, transitions, 公示 and SLA, on the records store."""

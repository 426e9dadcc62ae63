"""The control-room web UI: server-rendered pages and their static files (vendored from npm)."""

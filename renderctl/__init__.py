"""renderctl: the command line over the render pipeline's HTTP API (submit, wait, download, ops)."""

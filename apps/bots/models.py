"""Models of the bots app (registered now; built by its own issue)."""

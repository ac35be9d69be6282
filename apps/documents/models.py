"""Models of the documents app (registered now; built by its own issue)."""

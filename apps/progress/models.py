"""Models of the progress app (registered now; built by its own issue)."""

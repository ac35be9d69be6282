"""Models of the recommendations app (registered now; built by its own issue)."""

"""Models of the conversations app (registered now; built by its own issue)."""

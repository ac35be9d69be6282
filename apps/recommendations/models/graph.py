"""Graph projection models (GraphOutbox)."""

__all__: list[str] = []

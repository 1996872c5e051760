"""End-to-end tests against a real local model (opt-in: ``uv run pytest -m e2e``)."""

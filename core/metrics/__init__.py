"""core.metrics package."""

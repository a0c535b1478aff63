"""core.warehouse package."""

"""core.model package."""

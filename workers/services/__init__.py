"""workers.services package."""

"""model_server package."""

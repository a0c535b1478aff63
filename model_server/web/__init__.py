"""model_server.web package."""

"""model_server.routes package."""

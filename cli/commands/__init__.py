"""Subcommands of ``creature-vis``: each module here has ``register(subparsers)``."""

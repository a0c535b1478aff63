"""The ``creature-vis`` command: the one place that composes every component."""

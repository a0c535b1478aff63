"""bot.handlers package."""

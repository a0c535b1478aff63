"""``python -m bot``: long polling locally, a webhook with a secret token on Cloud Run."""

from __future__ import annotations

import asyncio
import sys
from typing import Any
from urllib.parse import urlsplit

from telegram import Update

from bot.app import build_application
from core import heap
from core.errors import ConfigurationError
from core.logs import configure_logging
from core.settings import Settings, env_name, load_settings

WEBHOOK_LISTEN = "0.0.0.0"  # noqa: S104  (Cloud Run routes to the container's port)


def webhook_options(
    settings: Settings, *, listen: str = WEBHOOK_LISTEN, port: int | None = None
) -> dict[str, Any]:
    """Arguments of ``run_webhook``; refuse a webhook without a secret token."""
    secret = settings.bot.webhook_secret
    if secret is None:
        raise ConfigurationError(f"webhook mode needs {env_name('bot', 'webhook_secret')}")
    url = str(settings.bot.webhook_url)
    return {
        "listen": listen,
        "port": settings.bot.webhook_port if port is None else port,
        "url_path": urlsplit(url).path.lstrip("/"),
        "webhook_url": url,
        "secret_token": secret.get_secret_value(),  # PTB refuses updates without it
        "allowed_updates": Update.ALL_TYPES,
    }


def main() -> int:
    """Run the bot until interrupted."""
    configure_logging("bot")  # it also quiets httpx, whose log lines carry the token
    if sys.platform != "win32":  # uvloop is not built for Windows (the bot extra skips it)
        import uvloop

        # PTB runs its own loop: on uvloop its sockets, timers and callbacks cost less CPU.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        settings = load_settings()
        application = build_application(settings)
        heap.settle()  # what the bot imported and built lives as long as the process
        if settings.bot.webhook_url:
            application.run_webhook(**webhook_options(settings))
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
    except ConfigurationError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

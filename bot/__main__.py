"""``python -m bot``: long polling locally, a webhook with a secret token on Cloud Run."""

from __future__ import annotations

import logging
import sys
from urllib.parse import urlsplit

from telegram import Update

from bot.app import build_application
from core.errors import ConfigurationError
from core.settings import Settings, env_name, load_settings

WEBHOOK_LISTEN = "0.0.0.0"  # noqa: S104  (Cloud Run routes to the container's port)
WEBHOOK_PORT = 8080


def main() -> int:
    """Run the bot until interrupted."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        application = build_application(settings)
        if settings.bot.webhook_url:
            _run_webhook(application, settings)
        else:
            application.run_polling(allowed_updates=Update.ALL_TYPES)
    except ConfigurationError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
    return 0


def _run_webhook(application: object, settings: Settings) -> None:
    secret = settings.bot.webhook_secret
    if secret is None:
        raise ConfigurationError(f"webhook mode needs {env_name('bot', 'webhook_secret')}")
    url = str(settings.bot.webhook_url)
    application.run_webhook(  # type: ignore[attr-defined]
        listen=WEBHOOK_LISTEN,
        port=WEBHOOK_PORT,
        url_path=urlsplit(url).path.lstrip("/"),
        webhook_url=url,
        secret_token=secret.get_secret_value(),
        allowed_updates=Update.ALL_TYPES,
    )


if __name__ == "__main__":
    sys.exit(main())

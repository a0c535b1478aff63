"""Build the Telegram Application: settings in, handlers and lifecycle hooks attached."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest

from bot.connections import AiohttpRequest
from bot.handlers import COMMANDS, register
from bot.services import SERVICES_KEY, close_services, open_services, services_of
from core.errors import ConfigurationError
from core.settings import Settings, env_name

BotApplication = Application[Any, Any, Any, Any, Any, Any]


def build_application(settings: Settings, *, request: BaseRequest | None = None) -> BotApplication:
    """Return the bot for ``settings``; clients are opened in ``post_init``, not here."""
    if settings.bot.token is None:
        raise ConfigurationError(f"set TELEGRAM_BOT_TOKEN (or {env_name('bot', 'token')})")
    builder = (
        ApplicationBuilder()
        .token(settings.bot.token.get_secret_value())
        .concurrent_updates(True)  # one slow download must not hold up other users
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.bot.base_url:
        builder = builder.base_url(settings.bot.base_url)
    if settings.bot.base_file_url:
        builder = builder.base_file_url(settings.bot.base_file_url)
    builder = builder.request(request or AiohttpRequest(settings.bot.connections))
    if request is None:  # the long poll: one request at a time, on its own connection
        builder = builder.get_updates_request(AiohttpRequest(1))
    application: BotApplication = builder.build()
    application.bot_data["settings"] = settings
    register(application)
    return application


async def _post_init(application: BotApplication) -> None:
    settings = application.bot_data["settings"]
    application.bot_data[SERVICES_KEY] = await open_services(settings)
    commands = [BotCommand(name, description) for name, description in COMMANDS.items()]
    await application.bot.set_my_commands(commands)


async def _post_shutdown(application: BotApplication) -> None:
    if SERVICES_KEY in application.bot_data:
        await close_services(services_of(application))

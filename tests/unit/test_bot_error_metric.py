"""The bot's one error handler counts failures for the system-health dashboard."""

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

from bot.handlers.errors import on_error
from bot.services import SERVICES_KEY, Services
from core.settings import Settings
from core.warehouse import open_warehouse


async def test_a_failed_update_is_counted_by_component_and_error(settings: Settings) -> None:
    warehouse = open_warehouse(settings)
    unused: Any = None
    services = Services(settings=settings, store=unused, warehouse=warehouse, redis=unused,
                        callbacks=unused, limiter=unused, tasks=unused,
                        blocking=ThreadPoolExecutor(1))  # fmt: skip
    context: Any = SimpleNamespace(
        error=RuntimeError("boom"), application=SimpleNamespace(bot_data={SERVICES_KEY: services})
    )
    await on_error(object(), context)
    rows = warehouse.query("SELECT metric, value, labels_json FROM metric_points")
    assert rows == [
        {"metric": "request_errors", "value": 1.0,
         "labels_json": '{"component": "bot", "error": "RuntimeError"}'}
    ]  # fmt: skip
    services.blocking.shutdown()

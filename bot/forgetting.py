"""/forget from the bot: Redis first (buttons, held and unflushed rows), then everything else.

Work already under way for the person (a photo being stored or classified) checks
``forgotten_since`` when it is done and, if they asked meanwhile, forgets again instead of
showing its answer.
"""

from __future__ import annotations

from bot.photos import forget, forgot_since, user_key
from bot.services import Services


async def forget_everywhere(services: Services, user_id: int) -> dict[str, int]:
    """Forget a Telegram user everywhere; return counts for the reply."""
    await services.callbacks.revoke_user(user_id)  # old buttons must not reach deleted rows
    who = user_key(user_id)
    # Their photos' images rows still held for the workers go to the warehouse first, so
    # that forgetting finds those photos there.
    await services.tasks.write_held_images(services.warehouse, who)
    pending = await services.tasks.forget_interactions(services.warehouse, who)
    counts = await services.run(
        forget, services.settings, services.store, services.warehouse, user_id
    )
    counts["interactions"] += pending
    return counts


async def forgotten_since(services: Services, user_id: int, since: float) -> bool:
    """Tell whether the user sent /forget at or after ``since``."""
    return await services.run(forgot_since, services.store, user_id, since)

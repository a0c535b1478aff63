"""Domain errors shared by every component.

Each error carries ``user_message``: a short sentence fit to show a person in a chat or on
the web page. Edges (routes, handlers, tasks) translate these into their own responses.
"""

from __future__ import annotations

import math


class CreatureVisError(Exception):
    """Base of every error the product raises on purpose."""

    user_message = "Something went wrong."

    def __init__(self, detail: str | None = None, *, user_message: str | None = None) -> None:
        if user_message is not None:
            self.user_message = user_message
        super().__init__(detail or self.user_message)


class ConfigurationError(CreatureVisError):
    """A setting is missing or invalid; the message names the environment variable."""

    user_message = "The service is misconfigured."


class MissingInfrastructure(ConfigurationError):
    """A bucket, dataset or table the gcp profile expects is not there.

    Terraform owns them (the services' accounts may not create them); the message names the
    module that makes the missing one.
    """

    user_message = "The service is not deployed completely."


class ImageRejected(CreatureVisError):
    """Base of every reason an uploaded image is refused."""

    user_message = "That file could not be used as a photo."


class NotAnImage(ImageRejected):
    """The bytes are not an image at all."""

    user_message = "That file is not an image. Please send a JPEG, PNG, WebP or GIF photo."


class UnsupportedImageFormat(ImageRejected):
    """An image, but in a format we do not take."""

    user_message = "That image format is not supported. Please send a JPEG, PNG, WebP or GIF."


class TruncatedImage(ImageRejected):
    """The image data ends early or is corrupt."""

    user_message = "That image looks damaged or incomplete. Please send it again."


class ImageTooLarge(ImageRejected):
    """The file is bigger than the byte limit."""

    user_message = "That file is too large."


class TooManyPixels(ImageRejected):
    """The image has more pixels than the limit (a decompression-bomb guard)."""

    user_message = "That image has too many pixels."


class EmptyImage(ImageRejected):
    """No bytes at all."""

    user_message = "The file is empty."


class ObjectNotFound(CreatureVisError):
    """A key is missing from an ImageStore."""

    user_message = "That item no longer exists."


class UnsafeKey(CreatureVisError):
    """A storage key tries to leave its root (``..``, absolute paths, empty segments)."""

    user_message = "That name is not allowed."


class UnknownInteraction(CreatureVisError):
    """Feedback names an interaction id we never issued."""

    user_message = "That prediction is unknown or has expired."


class ReservedSource(CreatureVisError):
    """A caller claims a photo source only the acquisition pipeline may write."""

    user_message = "That source is reserved for photos the service fetches itself."


class UnknownApiKey(CreatureVisError):
    """An API key that was never issued, or was revoked, or is not a key at all."""

    user_message = (
        "That API key is not valid (unknown or revoked). Ask an admin for a key, or send no "
        "key to answer anonymously."
    )


class IdentityInBody(CreatureVisError):
    """A request body tries to say who the caller is; only a key or a session can."""

    user_message = (
        "user_id is not accepted: to answer as a person, send your API key in the "
        "Authorization header (Bearer <key>) or in X-API-Key; without one you answer "
        "anonymously."
    )


class Throttled(CreatureVisError):
    """A caller went past a limit; ``retry_after`` says in how many seconds to try again."""

    def __init__(self, message: str, retry_after: float, user_message: str) -> None:
        super().__init__(message, user_message=user_message)
        self.retry_after = max(1, math.ceil(retry_after))


class NoSession(CreatureVisError):
    """Forgetting was asked without a web session to say whose photos."""

    user_message = "There is nothing to forget: this browser has no session with us."


class ForgottenMeanwhile(CreatureVisError):
    """The person asked to be forgotten while their photo was being answered."""

    user_message = "You asked us to forget your photos, so this one was deleted too."


class InvalidLabel(CreatureVisError):
    """A label outside the fixed set."""

    user_message = "That label is not one of the 16 we know."


class ProductionMoved(CreatureVisError):
    """Production changed while a challenger was trained against the previous one."""

    user_message = "Production changed meanwhile; the challenger was not promoted."


class ModelArtifactError(CreatureVisError):
    """A model artifact is corrupt, partial or inconsistent."""

    user_message = "The model could not be loaded."


class BackboneUnavailable(ConfigurationError):
    """The configured backbone source cannot be reached."""

    user_message = "The model weights are not available."

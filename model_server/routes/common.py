"""Pieces shared by the routes: reading an upload safely and the documented error bodies."""

from __future__ import annotations

from typing import Any

from fastapi import UploadFile

from model_server.schemas import ErrorResponse


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    return {status: {"model": ErrorResponse} for status in statuses}


async def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """Read an uploaded file, never more than one byte past the limit (intake refuses it)."""
    return await upload.read(max_bytes + 1)

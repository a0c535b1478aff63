"""The web page at ``/``: plain HTML with a little JavaScript that calls the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from model_server.state import ensure_session

router = APIRouter(include_in_schema=False)
PAGE = Path(__file__).resolve().parent.parent / "web" / "index.html"


@router.get("/", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """Serve the page and give the visitor an anonymous session id."""
    response = HTMLResponse(PAGE.read_text(encoding="utf-8"))
    ensure_session(request, response)
    return response

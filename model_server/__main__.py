"""``python -m model_server``: serve the API and the web page with uvicorn."""

from __future__ import annotations

import sys

import uvicorn

from core import heap
from core.errors import ConfigurationError
from core.logs import configure_logging
from core.settings import load_settings
from model_server.app import create_app


def main() -> int:
    """Build settings, print the address and serve until stopped."""
    configure_logging("server")
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(f"model_server: {exc}", file=sys.stderr)
        return 2
    host, port = settings.server.host, settings.server.port
    print(f"model_server: serving the web page and API at http://{host}:{port}", flush=True)
    # The client address for rate limits is ours to work out (model_server.abuse), so uvicorn
    # must not rewrite it from X-Forwarded-For.
    uvicorn.run(
        # What start-up imported and built, the model included, lives as long as the server.
        create_app(settings, on_ready=heap.settle),
        host=host,
        port=port,
        log_level="info",
        log_config=None,  # keep configure_logging's handler (JSON on GCP) for uvicorn's lines
        access_log=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

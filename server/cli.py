"""`companion-voice`: run the server, or issue an operator token from the configured secret."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import msgspec

from server.http_limits import ConnectionLimits, bounded_protocol, connection_budget, raise_fd_limit
from server.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="companion-voice", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server (settings from COMPANION_* variables)")
    serve.add_argument("--host", help="overrides COMPANION_HOST")
    serve.add_argument("--port", type=int, help="overrides COMPANION_PORT")
    token = commands.add_parser("token", help="print an operator token signed with the configured secret")
    token.add_argument("--subject", default="operator", help="who the token is for (its `sub`)")
    token.add_argument("--ttl", type=int, help="lifetime in seconds (default COMPANION_OPERATOR_TOKEN_TTL_S)")
    token.add_argument(
        "--scope",
        action="append",
        default=[],
        help="a scope to grant (repeatable): `transcripts:read` shows residents' words in events and alerts",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"companion-voice: {exc}", file=sys.stderr)
        return 2
    if args.command == "token":
        return _token(settings, subject=args.subject, ttl=args.ttl, scopes=args.scope)
    return _serve(settings, host=args.host, port=args.port)


def _token(settings: Settings, *, subject: str, ttl: int | None, scopes: list[str]) -> int:
    from server.auth import TokenService

    tokens = TokenService(
        secret=settings.jwt_secret, algorithm=settings.jwt_algorithm, issuer=settings.jwt_issuer
    )
    issued = tokens.issue(
        role="operator", subject=subject, ttl_s=ttl or settings.operator_token_ttl_s, scopes=scopes
    )
    print(issued.token)
    return 0


def _serve(settings: Settings, *, host: str | None, port: int | None) -> int:
    # Logging first: importing pipecat (below) already logs through loguru.
    from server.logs import configure_logging

    configure_logging(settings.log_level)
    settings = msgspec.structs.replace(
        settings, host=host or settings.host, port=settings.port if port is None else port
    )
    import uvicorn

    from personas import PersonaFileError
    from server.app import create_app

    try:
        app = create_app(settings, settle_heap=True)
    except PersonaFileError as exc:
        print(f"companion-voice: cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, **uvicorn_options(settings))
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the app: bounded connections (server/http_limits.py), logging left to
    `server.logs`, WebSocket frames past twice the message limit closed (1009) before they are kept."""
    fd_limit = raise_fd_limit()
    limits = ConnectionLimits(
        header_timeout_s=settings.request_header_timeout_s,
        body_timeout_s=settings.request_body_timeout_s,
        max_header_bytes=settings.max_request_header_bytes,
        max_connections=settings.max_connections or connection_budget(fd_limit),
    )
    logging.getLogger(__name__).info(
        "open files: %d; connections held at most: %d", fd_limit, limits.max_connections
    )
    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": None,
        "access_log": False,
        "loop": "uvloop",
        "http": bounded_protocol(limits),
        "ws": "websockets-sansio",
        "ws_max_size": 2 * settings.max_ws_message_bytes,
    }


if __name__ == "__main__":
    sys.exit(main())

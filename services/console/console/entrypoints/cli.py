"""`sikader-console` (python -m console.entrypoints.cli): serve, migrate, new-session-key."""

from __future__ import annotations

import argparse

from console.settings import ConsoleSettings
from sikader_shared.crypto import new_key
from sikader_shared.migrations import upgrade_head


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sikader-console",
        description="The city's console: web pages over the four services' APIs (settings: SIKADER_CONSOLE_*).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the console's web server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    sub.add_parser("migrate", help="create or upgrade the console's database (its sessions)")
    sub.add_parser("new-session-key", help="print a new SIKADER_CONSOLE_SESSION_KEY (a Fernet key)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "new-session-key":
        print(new_key())
        return
    settings = ConsoleSettings()
    if args.command == "migrate":
        from console.app import SERVICE_DIR

        upgrade_head(SERVICE_DIR, settings.effective_database_url())
        print("console: database migrated")
        return
    import uvicorn

    from console.app import create_app

    uvicorn.run(
        create_app(settings),
        host=args.host or settings.http_host,
        port=args.port or settings.http_port,
        log_config=None,
        timeout_graceful_shutdown=10,
        proxy_headers=False,  # the address the services see is the browser's peer, not a header
    )


if __name__ == "__main__":
    main()

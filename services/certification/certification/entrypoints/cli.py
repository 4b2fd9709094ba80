"""`sikader-certification`: migrate, API keys, DLQ, outbox re-publishing (see --help)."""

from certification.app import definition
from sikader_shared.cli import run_cli


def main() -> None:
    run_cli(definition)


if __name__ == "__main__":
    main()

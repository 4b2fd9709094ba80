from sikader_shared.cli import run_cli
from tests.support.probe import definition

run_cli(definition)

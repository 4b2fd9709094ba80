from console.adapters.tables import METADATA
from sikader_shared.migrations import run_env

run_env(METADATA)

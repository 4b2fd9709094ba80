"""The four examples in docs/examples/ as the test runs them: each a separate process
configured by environment variables, reporting one JSON line per outcome on stdout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
SCHEMA_DIR = ROOT / "shared" / "sikader_shared" / "schemas"


@dataclass(frozen=True)
class Example:
    name: str
    command: tuple[str, ...]
    built: Path  # what `make test-examples` builds (checked before running)

    @property
    def cwd(self) -> Path:
        return EXAMPLES / self.name


EXAMPLE_LIST = (
    Example("java", ("java", "-jar", "target/sikader-example.jar"), EXAMPLES / "java/target/sikader-example.jar"),
    Example("node", ("node", "sikader-example.js"), EXAMPLES / "node/node_modules/kafkajs"),
    Example("go", ("bin/sikader-example",), EXAMPLES / "go/bin/sikader-example"),
    Example("python", (sys.executable, "sikader_example.py"), EXAMPLES / "python/sikader_example.py"),
)


def self_test(example: Example) -> list[dict[str, Any]]:
    out = subprocess.run(
        [*example.command, "--self-test"], cwd=example.cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


@dataclass
class Running:
    """One example process; its stdout (JSON lines) and stderr go to `log`."""

    example: Example
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    def start(self) -> Running:
        self.starts += 1
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                list(self.example.command),
                cwd=self.example.cwd,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        return self

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def reports(self) -> list[dict[str, Any]]:
        """The JSON lines it printed, across restarts (other lines are logs)."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        out = []
        for line in lines:
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def find(self, **match: Any) -> list[dict[str, Any]]:
        return [r for r in self.reports() if all(r.get(k) == v for k, v in match.items())]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

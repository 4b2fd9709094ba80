"""Run a service for a test: in-process (uvicorn in this event loop) or as a subprocess
(so it can be SIGKILLed). Both migrate the service's database first."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from sikader_shared.migrations import upgrade_head
from sikader_shared.service import ServiceDefinition, ServiceRuntime, create_service_app
from sikader_shared.testing.broker import free_port


async def wait_ready(url: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                r = await client.get(f"{url}/health/ready")
                last = r.text
                if r.status_code == 200 and r.json().get("consumer", {}).get("running"):
                    return dict(r.json())
            except httpx.HTTPError as exc:
                last = repr(exc)
            await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} not ready in {timeout}s: {last}")


class InProcessService:
    def __init__(self, definition: ServiceDefinition) -> None:
        self.definition = definition
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_service_app(definition)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    async def start(self, migrate: bool = True) -> InProcessService:
        if migrate:
            await asyncio.to_thread(
                upgrade_head, self.definition.service_dir, self.definition.settings.effective_database_url()
            )
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on", proxy_headers=False
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        await wait_ready(self.url)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 30)
            self._server = None

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


def issue_key_with_cli(service: str, env: dict[str, str], client: str, scopes: str) -> str:
    """An OPD key through a service's operator CLI (`keys issue`), as an operator issues one;
    `env` is that service's environment (its database). Returns the key."""
    out = subprocess.run(
        [sys.executable, "-m", f"{service}.entrypoints.cli", "keys", "issue", "--client", client, "--scopes", scopes],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return str(json.loads(out.stdout)["key"])


class SubprocessService:
    """`python -m <service>.entrypoints.cli serve` with the given environment."""

    def __init__(self, service: str, env: dict[str, str], log_path: Path, module: str | None = None) -> None:
        self.service = service
        self.module = module or f"{service}.entrypoints.cli"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def migrate(self) -> None:
        subprocess.run([sys.executable, "-m", self.module, "migrate"], env=self.env, check=True)

    async def start(self) -> SubprocessService:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        await wait_ready(self.url)
        return self

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    async def stop(self, timeout: float = 20.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


class ConsoleProcess(SubprocessService):
    """The console (`python -m console.entrypoints.cli serve`): no broker and no consumer, so
    ready is a plain 200 on /health/ready."""

    def __init__(self, env: dict[str, str], log_path: Path, ready_timeout_s: float = 90.0) -> None:
        super().__init__("console", env, log_path)
        self.ready_timeout_s = ready_timeout_s

    async def start(self) -> ConsoleProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.ready_timeout_s
        last: Any = None
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"console exited ({self.proc.returncode}); log {self.log_path}")
                try:
                    r = await client.get(f"{self.url}/health/ready")
                    last = (r.status_code, r.text[:300])
                    if r.status_code == 200:
                        return self
                except httpx.HTTPError as exc:
                    last = repr(exc)
                await asyncio.sleep(0.1)
        raise TimeoutError(f"console not ready in {self.ready_timeout_s} s: {last}")

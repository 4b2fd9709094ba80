"""A PostgreSQL instance of the test's own (initdb in a temporary directory, pg_ctl), so that
the fault test can crash and restart it without touching the machine's shared server.

Run as root, initdb and the server run as the `postgres` user (PostgreSQL refuses root)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from sikader_shared.testing.broker import free_port


class PostgresUnavailable(RuntimeError):
    pass


def find_bin_dir() -> Path | None:
    """SIKADER_TEST_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin, else pg_ctl on PATH."""
    explicit = os.environ.get("SIKADER_TEST_PG_BIN")
    candidates = [explicit] if explicit else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


class LocalPostgres:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="sikader-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root and there is no `postgres` user to run the server") from exc
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self._user is not None:
            cmd = ["runuser", "-u", self._user.pw_name, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def init(self) -> LocalPostgres:
        out = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        if out.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {out.stderr.strip()[-500:]}")
        return self

    def start(self) -> None:
        # fsync off: a test instance; an immediate stop is a process crash, not a power cut,
        # so committed transactions still survive it (the WAL is in the OS cache).
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=on"
        )
        out = self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")
        if out.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl start failed: {out.stdout.strip()} {self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        """`immediate` is a crash of the server: connections drop, recovery runs on start."""
        out = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        if out.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl stop failed: {out.stdout.strip()} {out.stderr.strip()}")

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except Exception:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.url(), timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    async def answers(self) -> bool:
        try:
            conn = await asyncpg.connect(self.url(), timeout=2)
        except Exception:
            return False
        await conn.close()
        return True

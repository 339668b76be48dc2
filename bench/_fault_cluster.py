"""The PostgreSQL of ``faults.py``: a cluster of its own (``initdb`` into a temporary folder,
from the newest ``/usr/lib/postgresql/*/bin``), started on a free loopback port with its unix
sockets in that folder, restarted when the benchmark says, and stopped by its PID at the end
whatever happens. The system's PostgreSQL (5432) is never touched. As root, every command runs
as the ``postgres`` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DATABASE = "facetrail"
START_TIMEOUT_S = 60


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running cluster: ``url`` is its benchmark database, for SQLAlchemy."""

    folder: Path
    port: int
    bin_dir: Path

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            log = (self.folder / "postgres.log").read_text(errors="replace")[-2000:]
            raise SystemExit(f"{command[0]} failed: {done.stderr.strip()}\n{log}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin_dir / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.folder / "postgres.log")),
            *("-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"),
        )

    def stop(self) -> None:
        """A fast shutdown (clients disconnected, no wait for them), as an operator's restart."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


@contextmanager
def own_cluster(parent: Path) -> Iterator[Cluster]:
    """A new cluster in ``parent``/postgres with its benchmark database; stopped by its PID
    when the block ends, however it ends."""
    folder = parent / "postgres"
    folder.mkdir()
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(folder, _free_port(), _bin_dir())
    cluster._run(
        str(cluster.bin_dir / "initdb"),
        *("-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync"),
    )
    try:
        cluster.start()
        import psycopg

        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres", autocommit=True
        ) as admin:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
        yield cluster
    finally:
        _stop_by_pid(cluster)
        shutil.rmtree(folder, ignore_errors=True)


def _stop_by_pid(cluster: Cluster) -> None:
    """SIGINT (fast shutdown) to the postmaster, then SIGKILL if it has not gone in 30 s."""
    pid = cluster.pid()
    if pid is None:
        return
    for sig, wait_s in ((signal.SIGINT, 30.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

"""A Milvus server for one measurement or test run, inside the network namespace of the process
that calls ``serving`` (made by ``unshare -n``; see ``in_namespace``).

The ``milvus`` package's 2.3.5 standalone server (embedded etcd, local storage, rocksmq, no
authentication) listens on every interface whatever its configuration says, so ``serving``
refuses to start it where any interface but loopback exists. Its binaries unpack from the
wheel (246 MB, nothing downloaded) into WORKDIR/bin, its data and logs beside them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from milvus import MilvusServer

HEALTHY_WITHIN_S = 120
#: SIGTERM's grace: the server's own graceful stop outlasted 30 s here, and its data is a
#: run's, thrown away after it.
TERM_GRACE_S = 5


class NotIsolatedError(RuntimeError):
    """Other interfaces than loopback exist: the server would listen on them."""


def interfaces() -> list[str]:
    """The interfaces of this process's network namespace (/sys/class/net shows those of the
    namespace sysfs was mounted in, not ours)."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines)


def in_namespace(argv: list[str]) -> list[str]:
    """``argv`` run in a new network namespace (loopback only; needs root)."""
    return ["unshare", "-n", "--", *argv]


def can_isolate() -> bool:
    """Whether this process may make a network namespace (root, with unshare and ip)."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip")):
        return False
    tried = subprocess.run(in_namespace(["true"]), capture_output=True, check=False)
    return tried.returncode == 0


@contextmanager
def serving(workdir: Path) -> Iterator[tuple[str, int]]:
    """-> (url, pid) of a healthy server over WORKDIR; stopped (SIGTERM, then SIGKILL) on leaving,
    whatever happened, and reaped."""
    if interfaces() != ["lo"]:
        raise NotIsolatedError(f"interfaces {interfaces()}: run in a namespace of its own")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    server = MilvusServer(wait_for_started=False)
    server.set_base_dir(str(workdir))
    try:
        server.start()
        process: subprocess.Popen[bytes] = server.server_proc
        server.wait_started(timeout=HEALTHY_WITHIN_S * 1000)
        yield f"http://127.0.0.1:{server.listen_port}", process.pid
    finally:
        if server.server_proc is not None:
            _stop(server.server_proc)
        server.stop()  # closes its log files


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

"""The VectorIndex contract on a real Milvus server (the ``milvus`` package's 2.3.5 standalone),
run in a network namespace the test makes, so the server, which listens on every interface,
can be reached from loopback only and reaches nothing itself (it works offline: its binaries
unpack from the wheel). tests/index/_milvus_server_run.py starts it, runs the contract and
``erase`` against it, stops it and prints what happened; this test asserts on that, and on no
process of the run outliving it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.index._milvus_server_run import can_isolate, in_namespace, interfaces
from tests.index.contract import CONTRACT

pytestmark = pytest.mark.database_free

RUNNER = REPO_ROOT / "tests" / "index" / "_milvus_server_run.py"
#: Unpacking, starting (about 12 s to healthy), the contract and stopping: well under this.
TIMEOUT_S = 300


needs_netns = pytest.mark.skipif(
    not can_isolate(), reason="needs root, unshare and ip (a network namespace)"
)


def group_members(pgid: int) -> list[int]:
    """Processes still in process group ``pgid`` (zombies included)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone while we looked
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


@needs_netns
def test_a_milvus_server_keeps_the_contract_in_a_namespace_of_its_own(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    runner = subprocess.Popen(
        in_namespace([sys.executable, str(RUNNER), str(tmp_path)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "HOME": str(home)},
        start_new_session=True,  # its own process group: the server joins it
    )
    try:
        out, err = runner.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        out, err = "", f"no answer within {TIMEOUT_S} s"
    finally:
        if group_members(runner.pid):
            os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
    assert runner.returncode == 0, err[-4000:]
    report = json.loads(out.strip().splitlines()[-1])

    assert report["interfaces"] == ["lo"]
    assert "error" not in report, (report["error"], err[-4000:])
    failed = {name: why for name, why in report["results"].items() if why != "ok"}
    assert not failed, json.dumps(failed, indent=1)
    assert set(report["results"]) == {f.__name__ for f in CONTRACT} | {"erasure_leaves_no_answer"}
    assert report["describe"] == "milvus-2.3.5:FLAT,IP,d=512"

    # The server is stopped, nothing the run started survives, nothing landed in $HOME.
    assert not Path(f"/proc/{report['server_pid']}").exists()
    assert group_members(runner.pid) == []
    assert list(home.iterdir()) == []
    assert (tmp_path / "milvus" / "bin" / "milvus").is_file()
    shutil.rmtree(tmp_path / "milvus")  # 400 MB: binaries, and rocksmq's preallocated log


def test_the_server_is_refused_where_other_interfaces_exist(tmp_path: Path) -> None:
    """Run outside a namespace (where this machine has another interface) the runner starts
    nothing; where loopback is all there is, the namespace test above covers it."""
    if interfaces() == ["lo"]:
        pytest.skip("this machine has loopback only")
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "outside a loopback-only namespace" in report["error"]
    assert not (tmp_path / "milvus").exists()

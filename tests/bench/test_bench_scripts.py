"""Every script in bench/ runs at a tiny size, so none can rot unnoticed.

The figures of a tiny run mean nothing; what counts is that each script still starts, drives
the product's real services and prints the figures it exists for. mypy checks bench/ too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import LFW, REPO_ROOT, needs_lfw

#: A script's not rotting does not depend on the database: checked once, in the SQLite pass.
pytestmark = pytest.mark.one_backend

BENCH = REPO_ROOT / "bench"
TIMEOUT_S = 180


def run_script(name: str, *args: str, home: Path) -> str:
    """Run bench/NAME as a user would; return its stdout after checking it exited 0."""
    env = {**os.environ, "FACETRAIL_HOME": str(home), "FACETRAIL_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(BENCH / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{name} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return done.stdout


def json_tail(stdout: str) -> dict[str, Any]:
    """The JSON object a script prints last."""
    figures: dict[str, Any] = json.loads(stdout[stdout.index("{") :])
    return figures


def test_every_bench_script_has_a_test() -> None:
    tested = {
        "ingest_cost.py",
        "audit_cost.py",
        "accuracy_vs_reference.py",
        "install_calibration.py",
        "load_search.py",
        "seal_cost.py",
        "result_page.py",
        "refusal_flood.py",
        "faults.py",
        "backup_restore.py",
        "audit_proofs.py",
        "ann_index.py",
        "template_storage.py",
        "short_list_reads.py",
        "ray_ingest.py",
        "milvus_index.py",
        "pq_seeds.py",
    }
    # raw_reference.py runs inside accuracy_vs_reference.py; _*.py are the scripts' own parts.
    scripts = {p.name for p in BENCH.glob("*.py") if not p.name.startswith("_")}
    assert scripts == tested | {"raw_reference.py"}


@needs_lfw
def test_ingest_cost_prints_its_ratios(
    tmp_path: Path, new_database: Callable[[], str | None]
) -> None:
    # Two ingests, each in a home of its own: in PostgreSQL mode each on a database of its own.
    urls = [new_database(), new_database()]
    databases = [a for url in urls if url for a in ("--database-url", url)]
    out = run_script(
        "ingest_cost.py",
        *("--images", "6", "--dataset", str(LFW), *databases),
        home=tmp_path / "home",
    )
    figures = json_tail(out)
    assert figures["images"] == 6 and figures["faces"] >= 6
    assert figures["cost_ratio_vs_raw_models"] > 0
    assert figures["two_worker_speedup"] > 0


@needs_lfw
def test_audit_cost_prints_its_figures(tmp_path: Path) -> None:
    out = run_script(
        "audit_cost.py",
        *("--entries", "60", "--checkpoint-every", "25", "--searches", "2", "--images", "8"),
        *("--dataset", str(LFW)),
        home=tmp_path / "home",
    )
    figures = json_tail(out)
    assert figures["entries"] >= 60
    assert figures["append_seconds"] > 0 and figures["verify_seconds"] > 0
    assert figures["governed_search_ms_median"] > 0


@needs_lfw
def test_seal_cost_compares_two_trees(
    tmp_path: Path, new_database: Callable[[], str | None]
) -> None:
    # HEAD as its own baseline: a clone of any depth holds it (the real baseline is older).
    # In PostgreSQL mode each run on a database of its own.
    urls = [new_database(), new_database()]
    databases = [a for url in urls if url for a in ("--database-url", url)]
    out = run_script(
        "seal_cost.py",
        *databases,
        *(
            "--baseline",
            "HEAD",
            "--entries",
            "20",
            "--per-transaction",
            "4",
            "--search-rounds",
            "1",
        ),
        *("--checkpoint-every", "10", "--searches", "2", "--images", "6", "--dataset", str(LFW)),
        home=tmp_path / "home",
    )
    figures = json_tail(out)
    for run in ("before_sealing", "sealed"):
        assert figures[run]["entries"] > 20  # every action's entry, and its rows' seals
        assert figures[run]["verify_seconds"] > 0
    assert figures["verify_seconds_per_million_entries"] > 0
    assert isinstance(figures["search_overhead_added_ms"], float)
    if not databases:  # the alternating rounds run on SQLite
        assert figures["search_rounds"] == 1
        assert isinstance(figures["governed_search_added_ms_of_rounds"], float)


@needs_lfw
def test_result_page_counts_one_looks_entries_in_a_browser(tmp_path: Path) -> None:
    # HEAD as its own baseline (a clone of any depth holds it); the real baseline is older.
    out = run_script(
        "result_page.py",
        *("--baseline", "HEAD", "--images", "8", "--top", "5", "--views", "1"),
        *("--dataset", str(LFW)),
        home=tmp_path / "home",
    )
    figures = json_tail(out)
    for run in ("before", "this_tree"):
        assert figures[run]["candidates"] == 5 and figures[run]["settle_seconds_median"] > 0
        assert "search.view" in figures[run]["kinds_of_one_view"]
    assert figures["entries_per_view_before_and_now"][1] >= 1


@needs_lfw
def test_load_search_serves_searches_under_load_and_audits_each(
    tmp_path: Path, new_database: Callable[[], str | None]
) -> None:
    # Two workers, two clients for five seconds on a 2,000-face gallery: in PostgreSQL mode on
    # a database of its own, else on the SQLite file in the benchmark's home.
    url = new_database()
    report = tmp_path / "load.json"
    out = run_script(
        "load_search.py",
        *("--faces", "2000", "--real-images", "12", "--probes", "2", "--dataset", str(LFW)),
        *("--clients", "2", "--seconds", "5", "--workers", "2", "--sequential", "3"),
        *("--json", str(report), *(("--database-url", url) if url else ())),
        home=tmp_path / "home",
    )
    assert "throughput" in out and "audit verify" in out
    figures = json.loads(report.read_text())
    load, logged = figures["load"], figures["audit"]
    assert load["requests"] > 0 and load["errors"] == 0, load["error_kinds"]
    assert load["p50_ms"] > 0 and load["throughput_searches_per_s"] > 0
    assert logged["search_request_entries_during_load"] == load["requests"]
    assert logged["one_request_entry_per_http_search"] and logged["verify_ok"], logged
    assert figures["single_client"]["ratio_governed_http_to_bare"] > 0
    assert figures["gallery"]["faces"] == figures["gallery"]["index_entries"] == 2000


@needs_lfw
def test_accuracy_vs_reference_prints_both_and_a_verdict(tmp_path: Path) -> None:
    report = tmp_path / "both.json"
    out = run_script(
        "accuracy_vs_reference.py",
        *("--pack", "arcface-mbf", "--limit-identities", "12", "--dataset", str(LFW)),
        *("--json", str(report)),
        home=tmp_path / "home",
    )
    assert "reference" in out and "facetrail" in out
    assert any(line.startswith("rank-1") for line in out.splitlines())
    both = json.loads(report.read_text())
    assert {"reference", "facetrail"} <= set(both)


def test_install_calibration_writes_into_the_named_manifests(tmp_path: Path) -> None:
    shipped = REPO_ROOT / "src" / "facetrail" / "packs" / "arcface-mbf.json"
    packs = tmp_path / "packs"
    packs.mkdir()
    shutil.copy(shipped, packs / shipped.name)
    calibration = json.loads(shipped.read_text())["calibration"]
    calibration["dataset"] = "tiny-test"
    measured = tmp_path / "calibration.json"
    measured.write_text(json.dumps(calibration))
    before = shipped.read_bytes()
    out = run_script(
        "install_calibration.py",
        *("arcface-mbf", str(measured), "--packs-dir", str(packs)),
        home=tmp_path / "home",
    )
    assert "impostor pairs" in out
    assert json.loads((packs / shipped.name).read_text())["calibration"]["dataset"] == "tiny-test"
    assert shipped.read_bytes() == before


def test_refusal_flood_counts_the_entries_of_a_flood_both_ways(tmp_path: Path) -> None:
    figures = json_tail(run_script("refusal_flood.py", "--requests", "20", home=tmp_path))
    counted, one_by_one = figures["counted"], figures["one_by_one"]
    assert counted["answers"] == one_by_one["answers"] == {"403": 1, "429": 19}
    # Counted: the policy's refusal and the limit's first three, each with its token's use,
    # then the minute's one entry for the other sixteen.
    assert counted["by_kind"] == {"auth.token.use": 4, "search.refused": 5}
    assert one_by_one["by_kind"] == {"auth.token.use": 20, "search.refused": 20}
    assert figures["entries_ratio"] == round(40 / 9, 1)


@needs_lfw
def test_faults_prints_what_each_fault_cost(tmp_path: Path) -> None:
    # Seconds per phase on a 300-face gallery, its own PostgreSQL cluster; the disk phase
    # skips (saying why) where a tmpfs cannot be mounted.
    report = tmp_path / "faults.json"
    out = run_script(
        "faults.py",
        *("--seconds", "4", "--faces", "300", "--real-images", "12", "--clients", "2"),
        *("--flood", "40", "--dataset", str(LFW), "--json", str(report)),
        home=tmp_path / "home",
    )
    assert "searches lost" in out and "audit verify: ok" in out
    figures = json.loads(report.read_text())
    phases = figures["phases"]
    assert set(phases) == {"postgres_restart", "worker_kill", "disk_full", "refusal_flood"}
    for name, phase in phases.items():
        if "skipped" in phase:
            continue
        assert phase["searches_lost_or_half_written"] == 0, name
        assert phase["tracebacks_or_500s_to_clients"] == 0, (name, phase)
    assert phases["refusal_flood"]["by_status"].get("429", 0) > 0
    assert figures["audit_verify"]["ok"] and figures["checks_pass"]


@needs_lfw
def test_backup_restore_prints_its_table(tmp_path: Path) -> None:
    # A backup while a thread searches, restored into a fresh home: every count equal.
    report = tmp_path / "backup.json"
    out = run_script(
        "backup_restore.py",
        *("--images", "6", "--synthetic", "50", "--searches", "1", "--dataset", str(LFW)),
        *("--json", str(report)),
        home=tmp_path / "home",
    )
    assert "audit verify on the restored database: OK" in out
    figures = json.loads(report.read_text())
    assert figures["all_equal"] and figures["audit_verify"]["ok"]
    assert figures["backup"]["searches_during"] > 0 and figures["backup"]["search_failures"] == 0


def test_audit_proofs_measures_stored_proofs_against_every_leaf(tmp_path: Path) -> None:
    figures = json_tail(
        run_script(
            "audit_proofs.py", "--entries", "1200", "--proofs", "3", "--more", "300", home=tmp_path
        )
    )
    assert figures["entries"] == 1202  # two checkpoints among them
    assert figures["inclusion"]["reads_max"] <= 40
    assert figures["tiles"]["more_entries"] == 300


def test_ann_index_compares_the_approximate_index_with_exact(tmp_path: Path) -> None:
    report = tmp_path / "ann.json"
    out = run_script(
        "ann_index.py",
        *("--size", "3000", "--queries", "20", "--nprobe", "4,8", "--json", str(report)),
        home=tmp_path / "home",
    )
    assert "exact/ivf" in out and "returned again: 0" in out
    figures = json.loads(report.read_text())
    assert figures["exact"]["recall_top50"] == 1.0
    assert [row["nprobe"] for row in figures["ivf"]["settings"]] == [4, 8]
    assert all(row["p50_ms"] > 0 for row in figures["ivf"]["settings"])
    assert figures["removed"] == 30 and figures["removed_ever_returned"] == 0


def test_template_storage_times_both_layouts(tmp_path: Path) -> None:
    figures = json_tail(
        run_script("template_storage.py", "--faces", "300", "--reads", "5", home=tmp_path / "home")
    )
    assert figures["reads_each"] == 5 and figures["in_rows_ms"] > 0 and figures["toast_ms"] > 0
    # The two layouts are what they say: the vectors in the rows, or in TOAST.
    assert figures["sizes_bytes"]["in_rows"]["toast"] < figures["sizes_bytes"]["toast"]["toast"]


def test_short_list_reads_times_both_reads_on_both_backends(tmp_path: Path) -> None:
    figures = json_tail(
        run_script(
            "short_list_reads.py",
            *("--faces", "300", "--short-list", "20", "--top", "5", "--reads", "5"),
            home=tmp_path / "home",
        )
    )
    assert (figures["short_list"], figures["top"], figures["reads_each"]) == (20, 5, 5)
    for backend in ("postgresql", "sqlite"):
        assert figures[backend]["before_ms"] > 0 and figures[backend]["now_ms"] > 0


def _namespaces_work() -> bool:
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("ip")):
        return False
    probe = subprocess.run(["unshare", "-n", "--", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@needs_lfw
@pytest.mark.skipif(not _namespaces_work(), reason="Ray runs in a network namespace: needs root")
def test_ray_ingest_compares_ray_with_worker_processes_and_loses_nothing(tmp_path: Path) -> None:
    report = tmp_path / "ray.json"
    out = run_script(
        "ray_ingest.py",
        *("--images", "6", "--dataset", str(LFW), "--json", str(report)),
        home=tmp_path / "home",
    )
    figures = json.loads(report.read_text())
    assert json_tail(out) == figures and figures["images"] == 6
    for run in ("local_2_workers", "ray_2_actors"):
        assert figures[run]["faces"] == figures["faces"] >= 6
        assert figures[run]["share_of_raw_2_cores"] > 0 and figures[run]["photos_lost"] == 0
    killed = figures["ray_worker_killed"]
    assert killed["killed"] == 1 and killed["photos_lost"] == killed["committed_twice"] == 0


def test_milvus_index_compares_both_milvus_backends_with_exact(tmp_path: Path) -> None:
    # milvus-lite only: the server's half starts Milvus in a network namespace through
    # _milvus_server.py, which tests/index/test_milvus_server.py runs already (a minute).
    backends = "lite"
    report = tmp_path / "milvus.json"
    out = run_script(
        "milvus_index.py",
        *("--size", "2000", "--queries", "5", "--backends", backends, "--json", str(report)),
        home=tmp_path / "home",
    )
    assert "p50/exact" in out and "proven gone" in out
    figures = json.loads(report.read_text())
    assert figures["exact"]["recall_top50"] == 1.0
    for name in backends.split(","):
        row = figures[name]
        assert row["Strong"]["recall_top50"] == 1.0  # FLAT on both: exact
        assert row["insert_per_s"] > 0 and row["Strong"]["p50_ms"] > 0
        assert row["erased"] == 20 and row["left"] == 1980


def test_pq_seeds_counts_the_mates_each_seed_loses(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((300, 512)).astype(np.float32)
    gallery = centres + 0.3 * rng.standard_normal((300, 512)).astype(np.float32)
    probes = centres[:40] + 0.3 * rng.standard_normal((40, 512)).astype(np.float32)
    unit = [v / np.linalg.norm(v, axis=1, keepdims=True) for v in (gallery, probes)]
    templates = tmp_path / "templates.npz"
    np.savez(
        templates, gallery=unit[0], probes=unit[1], mates=np.arange(40), mated=np.ones(40, bool)
    )
    report = tmp_path / "seeds.json"
    out = run_script(
        "pq_seeds.py",
        *("--templates", str(templates), "--size", "3000", "--seeds", "0,1"),
        *("--short", "200,400", "--json", str(report)),
        home=tmp_path / "home",
    )
    assert "lists probed, short list 400" in out
    figures = json.loads(report.read_text())
    assert figures["mated_probes"] == 40 and 0 < figures["exact_rank1"] <= 40
    assert [(r["seed"], r["short"]) for r in figures["runs"]] == [
        (0, 200),
        (0, 400),
        (1, 200),
        (1, 400),
    ]
    assert all(0 <= r["lost"] <= figures["exact_rank1"] for r in figures["runs"])

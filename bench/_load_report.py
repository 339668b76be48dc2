"""The figures of ``load_search.py``, from what its clients recorded: a JSON-able dict, and
the same as a table for people."""

from __future__ import annotations

import os
import re
import statistics
from collections import Counter
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from _load_clients import Record, SingleClient
from _load_gallery import BuiltGallery

#: Target of the single-client ratio: governed search over HTTP / bare in-process search.
RATIO_TARGET = 1.3

Figures = dict[str, Any]


def gallery_figures(built: BuiltGallery) -> Figures:
    return {
        "faces": built.faces,
        "real_faces": built.real_faces,
        "real_images": built.real_images,
        "synthetic_faces": built.synthetic_faces,
        "ingest_seconds": built.ingest_seconds,
        "synthetic_insert_seconds": built.synthetic_seconds,
        "index_rebuild_seconds": built.index_seconds,
        "index_entries": built.index_entries,
        "index": built.index,
    }


def single_client_figures(times: SingleClient) -> Figures:
    governed, bare = statistics.median(times.governed_http), statistics.median(times.bare)
    return {
        "n": len(times.governed_http),
        "governed_http_p50_ms": governed,
        "bare_in_process_p50_ms": bare,
        "ratio_governed_http_to_bare": governed / bare,
        "ratio_target": RATIO_TARGET,
        "probe_pipeline_p50_ms": statistics.median(times.pipeline),
        "index_freshness_check_p50_ms": statistics.median(times.freshness_check),
    }


def load_figures(records: list[Record], clients: int, seconds: int, bare_p50_ms: float) -> Figures:
    """Throughput over the run's window (first start to last answer), exact percentiles of
    the time to the last byte, and every request not answered 201, by kind."""
    if not records:
        raise SystemExit("the load tool recorded no request")
    starts = np.array([r[0] for r in records], dtype=np.float64)
    times = np.array([r[1] for r in records], dtype=np.float64)
    window = float((starts + times / 1000).max() - starts.min())
    failed = [r for r in records if r[2] != 201]
    errors = Counter(_error_kind(status, error) for _start, _ms, status, error in failed)
    p50, p95, p99 = (float(p) for p in np.percentile(times, [50, 95, 99]))
    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(records),
        "window_seconds": window,
        "throughput_searches_per_s": len(records) / window,
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": float(times.max()),
        "p50_over_bare_p50": p50 / bare_p50_ms,
        "errors": len(failed),
        "error_kinds": dict(errors),
        "error_samples": [r[3] for r in failed[:5]],
    }


def _error_kind(status: int, error: str | None) -> str:
    """'HTTP 429 rate_limited', or the error of a request that got no answer."""
    if status == 0:
        return (error or "no answer")[:80]
    code = re.search(r"urn:facetrail:problem:([a-z_]+)", error or "")
    return f"HTTP {status} {code[1] if code else ''}".strip()


def machine_figures() -> Figures:
    return {"cpus": os.cpu_count(), "load_average_1_5_15": list(os.getloadavg())}


def print_table(figures: Figures) -> None:
    g, s, load, a = figures["gallery"], figures["single_client"], figures["load"], figures["audit"]
    table = Table(title="facetrail search under load", show_header=False)
    table.add_column("figure", no_wrap=True)
    table.add_column("value", justify="right", overflow="fold")
    row = table.add_row
    row(
        "gallery faces: real lfw-dev + synthetic",
        f"{g['faces']:,} = {g['real_faces']:,} + {g['synthetic_faces']:,}",
    )
    row("index", f"{g['index']}, {g['index_entries']:,} entries")
    row(
        "setup: ingest / synthetic insert / index rebuild",
        f"{g['ingest_seconds']:.1f} s / {g['synthetic_insert_seconds']:.1f} s / "
        f"{g['index_rebuild_seconds']:.1f} s",
    )
    service = figures["service"]
    row("database", figures["database"])
    row(
        "facetrail serve: workers x onnxruntime threads",
        f"{service['workers']} x {service['onnxruntime_threads']}",
    )
    row("  search rate limit (lifted for the load)", service["search_rate_limit"])
    table.add_section()
    row(f"one client, N={s['n']}: governed search over HTTP, p50", _ms(s["governed_http_p50_ms"]))
    row("bare in-process search of the same probe, p50", _ms(s["bare_in_process_p50_ms"]))
    row(
        f"ratio governed over HTTP / bare (target <= {s['ratio_target']})",
        f"{s['ratio_governed_http_to_bare']:.2f}x",
    )
    row(
        "  in the bare: probe pipeline (decode, detect, embed), p50",
        _ms(s["probe_pipeline_p50_ms"]),
    )
    row(
        "  per search: index freshness check (templates version), p50",
        _ms(s["index_freshness_check_p50_ms"]),
    )
    table.add_section()
    row(
        f"load: {load['clients']} clients for {load['seconds']} s",
        f"{load['requests']:,} searches in {load['window_seconds']:.1f} s",
    )
    row("throughput", f"{load['throughput_searches_per_s']:.2f} searches/s")
    row(
        "latency p50 / p95 / p99 / max",
        f"{load['p50_ms']:.0f} / {load['p95_ms']:.0f} / {load['p99_ms']:.0f} / "
        f"{load['max_ms']:.0f} ms",
    )
    row("p50 under load / bare p50", f"{load['p50_over_bare_p50']:.1f}x")
    row("errors (any answer but 201)", str(load["errors"]))
    for kind, count in load["error_kinds"].items():
        row(f"  {kind}", str(count))
    row("server tracebacks logged", str(figures["server_tracebacks"]))
    table.add_section()
    row(
        "search.request entries / HTTP searches sent",
        f"{a['search_request_entries']:,} / {a['http_searches_sent']:,}",
    )
    row(
        "  during the load / requests of the load",
        f"{a['search_request_entries_during_load']:,} / {a['load_requests']:,}",
    )
    row(
        "search.run / search.refused / search.failed entries",
        f"{a['search_run_entries']:,} / {a['search_refused_entries']} / "
        f"{a['search_failed_entries']}",
    )
    verdict = "OK" if a["verify_ok"] else f"FAILS: {a['verify_problem']}"
    row(
        "audit verify",
        f"{verdict}: {a['verify_entries']} entries, {a['verify_checkpoints']} checkpoint(s), "
        f"{a['verify_seconds']:.1f} s",
    )
    machine = figures["machine"]
    loads = ", ".join(f"{x:.2f}" for x in machine["load_average_1_5_15"])
    row("machine: cpus; load average after the load", f"{machine['cpus']}; {loads}")
    row("all checks pass", "yes" if figures["checks_pass"] else "NO")
    Console(width=120).print(table)


def _ms(value: float) -> str:
    return f"{value:.1f} ms"

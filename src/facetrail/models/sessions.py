"""onnxruntime sessions: one place that decides threads and execution providers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort


def create_session(
    path: Path, *, threads: int = 0, providers: Sequence[str] = ("CPUExecutionProvider",)
) -> ort.InferenceSession:
    """Open an inference session on the first available of ``providers`` (CUDA when present)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The shipped graphs carry harmless unused initializers; onnxruntime would warn on each.
    options.log_severity_level = 3
    available = set(ort.get_available_providers())
    chosen = [p for p in providers if p in available] or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(path), sess_options=options, providers=chosen)

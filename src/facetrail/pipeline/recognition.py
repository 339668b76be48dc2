"""Recognizer: aligned 112x112 crops -> L2-normalised float32 templates, in batches."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from facetrail.models.manifest import RecognizerSpec


class Recognizer:
    def __init__(self, session: ort.InferenceSession, spec: RecognizerSpec) -> None:
        self.session = session
        self.spec = spec
        self.input_name = session.get_inputs()[0].name
        batch_dim = session.get_inputs()[0].shape[0]
        self.max_batch = spec.max_batch if not isinstance(batch_dim, int) else batch_dim

    def blob(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(N,H,W,3) BGR uint8 -> normalised NCHW float32 in the model's channel order."""
        ordered = crops[..., ::-1] if self.spec.channels == "rgb" else crops
        x = (ordered.astype(np.float32) - self.spec.mean) / self.spec.std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def embed(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        if len(crops) == 0:
            return np.zeros((0, self.spec.embedding_dim), dtype=np.float32)
        parts = []
        for start in range(0, len(crops), self.max_batch):
            blob = self.blob(crops[start : start + self.max_batch])
            parts.append(np.asarray(self.session.run(None, {self.input_name: blob})[0]))
        emb = np.concatenate(parts).astype(np.float32).reshape(len(crops), -1)
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        normalised: npt.NDArray[np.float32] = (emb / np.maximum(norms, 1e-12)).astype(np.float32)
        return normalised

"""detect -> align -> quality -> embed, for one image or many (embeddings batched across images)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facetrail.models.registry import Pack, model_path
from facetrail.models.sessions import create_session
from facetrail.pipeline.alignment import align_face
from facetrail.pipeline.detection import DETECTORS, Detector
from facetrail.pipeline.faces import PLAIN, Detection, Face, Template
from facetrail.pipeline.quality import measure_quality
from facetrail.pipeline.recognition import Recognizer


@dataclass(frozen=True)
class PipelineOptions:
    threads: int = 0
    providers: tuple[str, ...] = ("CUDAExecutionProvider", "CPUExecutionProvider")


class FacePipeline:
    """A loaded pack. Construct once per process; ``analyse`` is the only entry point."""

    def __init__(
        self, pack: Pack, cache_dir: Path, options: PipelineOptions = PipelineOptions()
    ) -> None:
        self.pack = pack
        m = pack.manifest
        det_session = create_session(
            model_path(pack, m.detector.file, cache_dir),
            threads=options.threads,
            providers=options.providers,
        )
        rec_session = create_session(
            model_path(pack, m.recognizer.file, cache_dir),
            threads=options.threads,
            providers=options.providers,
        )
        self.detector: Detector = DETECTORS[m.detector.kind](det_session, m.detector)
        self.recognizer = Recognizer(rec_session, m.recognizer)

    @property
    def name(self) -> str:
        return self.pack.name

    def detect(self, bgr: npt.NDArray[np.uint8]) -> list[Detection]:
        """All faces, largest first."""
        return sorted(self.detector.detect(bgr), key=lambda d: -d.area)

    def analyse(self, bgr: npt.NDArray[np.uint8]) -> list[Face]:
        return self.analyse_many([bgr])[0]

    def analyse_many(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[list[Face]]:
        detections = [self.detect(img) for img in images]
        return self.embed_detections(images, detections)

    def embed_detections(
        self, images: Sequence[npt.NDArray[np.uint8]], detections: Sequence[Sequence[Detection]]
    ) -> list[list[Face]]:
        """Align, measure and embed given detections; one recognizer batch for all images."""
        size = self.pack.manifest.recognizer.input_size
        crops = [
            align_face(img, d.landmarks, size)
            for img, dets in zip(images, detections, strict=True)
            for d in dets
        ]
        if crops:
            vectors = self.recognizer.embed(np.stack(crops))
        else:
            vectors = np.zeros((0, self.pack.manifest.embedding_dim), np.float32)
        out: list[list[Face]] = []
        k = 0
        for dets in detections:
            faces = []
            for i, d in enumerate(dets):
                template = Template(self.name, PLAIN, vectors[k])
                faces.append(Face(i, d, measure_quality(d, crops[k]), {PLAIN: template}))
                k += 1
            out.append(faces)
        return out

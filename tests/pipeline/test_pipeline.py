from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrail.models.registry import get_pack
from facetrail.pipeline.faces import PLAIN, nearest_centre
from facetrail.pipeline.pipeline import FacePipeline, PipelineOptions
from tests.conftest import lfw_people, needs_lfw

pytestmark = needs_lfw


@pytest.mark.parametrize("pack", ["arcface-mbf", "sface"])
def test_same_person_scores_higher_than_others(pack: str, tmp_path: Path) -> None:
    pipe = FacePipeline(get_pack(pack, tmp_path), tmp_path, PipelineOptions(threads=1))
    people = lfw_people(4)
    images = [cv2.imread(str(p)) for person in people for p in sorted(person.glob("*.jpg"))[:2]]
    faces = pipe.analyse_many(images)
    vecs = []
    for img, found in zip(images, faces, strict=True):
        assert found, "every LFW photo here has a face"
        pick = nearest_centre([f.detection for f in found], img.shape[1], img.shape[0])
        assert pick is not None
        t = found[pick].template(PLAIN)
        assert t.pack == pack and t.dim == pipe.pack.manifest.embedding_dim
        assert abs(float(np.linalg.norm(t.vector)) - 1) < 1e-4
        q = found[pick].quality
        assert 10 < q.inter_eye_px < 80 and q.blur > 0 and abs(q.yaw_deg) < 60
        vecs.append(t.vector)
    sims = np.stack(vecs) @ np.stack(vecs).T
    for i in range(0, len(vecs), 2):
        others = [sims[i, j] for j in range(len(vecs)) if j not in (i, i + 1)]
        assert sims[i, i + 1] > max(others)


def test_all_faces_found_largest_first(tmp_path: Path) -> None:
    pipe = FacePipeline(get_pack("arcface-mbf", tmp_path), tmp_path, PipelineOptions(threads=1))
    a, b = (cv2.imread(str(sorted(p.glob("*.jpg"))[0])) for p in lfw_people(2))
    small = cv2.resize(b, (75, 75))
    canvas = np.full((200, 300, 3), 128, np.uint8)
    canvas[25:175, 0:150] = a
    canvas[60:135, 200:275] = small
    faces = pipe.analyse(canvas)
    assert len(faces) >= 2
    assert [f.index for f in faces] == list(range(len(faces)))
    areas = [f.detection.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert faces[0].detection.bbox[2] < 150  # the large face is the one on the left


def test_no_face_gives_empty_list(tmp_path: Path) -> None:
    pipe = FacePipeline(get_pack("sface", tmp_path), tmp_path, PipelineOptions(threads=1))
    assert pipe.analyse(np.full((120, 160, 3), 90, np.uint8)) == []


@pytest.mark.parametrize("pack", ["arcface-mbf", "sface"])
def test_coordinates_are_in_image_pixels_whatever_the_input_size(pack: str, tmp_path: Path) -> None:
    pipe = FacePipeline(get_pack(pack, tmp_path), tmp_path, PipelineOptions(threads=1))
    face = cv2.imread(str(sorted(lfw_people(1)[0].glob("*.jpg"))[0]))
    alone = pipe.detect(face)
    big = np.full((900, 700, 3), 127, np.uint8)
    big[300:450, 400:550] = cv2.resize(face, (150, 150))
    placed = pipe.detect(big)
    assert alone and placed
    shift = np.array([400, 300], np.float32)
    # Different input scales give slightly different landmarks; a few pixels at most.
    assert np.abs(placed[0].landmarks - (alone[0].landmarks + shift)).max() < 4

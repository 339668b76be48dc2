from __future__ import annotations

from pathlib import Path

import pytest

from facetrail.errors import DatasetError
from facetrail.eval.protocol import load_protocol


def _layout(root: Path, spec: dict[str, int]) -> None:
    for ident, n in spec.items():
        (root / ident).mkdir(parents=True)
        for i in range(1, n + 1):
            (root / ident / f"{ident}_{i:04d}.jpg").write_bytes(b"x")


def test_enrolment_and_probes_follow_the_readme(tmp_path: Path) -> None:
    # Byte-wise order puts "B" before "a"; singles alternate gallery / non-mated.
    _layout(tmp_path, {"a_multi": 3, "B_multi": 2, "s1": 1, "s2": 1, "s3": 1, "empty": 0})
    (tmp_path / "identities.csv").write_text("identity,gender,race\na_multi,female,\ns2,male,x\n")
    p = load_protocol(tmp_path)
    assert list(p.gallery) == ["B_multi", "a_multi", "s1", "s3"]
    assert p.gallery["a_multi"].name == "a_multi_0001.jpg"
    assert [(i, f.name) for i, f in p.mated] == [
        ("B_multi", "B_multi_0002.jpg"),
        ("a_multi", "a_multi_0002.jpg"),
        ("a_multi", "a_multi_0003.jpg"),
    ]
    assert [i for i, _ in p.nonmated] == ["s2"]
    assert p.labels == {"a_multi": {"gender": "female"}, "s2": {"gender": "male", "race": "x"}}


def test_missing_or_empty_dataset_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        load_protocol(tmp_path / "nope")
    with pytest.raises(DatasetError):
        load_protocol(tmp_path)


@pytest.mark.skipif(
    not (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lfw-dev").is_dir(),
    reason="no lfw-dev",
)
def test_lfw_dev_counts_match_its_readme() -> None:
    from tests.conftest import LFW

    p = load_protocol(LFW)
    assert (len(p.gallery), len(p.mated), len(p.nonmated), len(p.images)) == (1772, 1952, 764, 4488)

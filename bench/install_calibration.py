"""Write a measured calibration into a built-in pack manifest.

The calibration is what ``facetrail eval identification --calibration-out FILE`` measured
(impostor scores -> false match rate); this copies it into ``src/facetrail/packs/PACK.json``
so the shipped score -> FMR mapping is measured, never guessed:

    facetrail eval identification --dataset ../shared/data/lfw-dev --pack arcface-mbf \\
        --calibration-out bench/out/calibration_arcface-mbf.json
    .venv/bin/python bench/install_calibration.py arcface-mbf bench/out/calibration_arcface-mbf.json

``--packs-dir DIR`` writes into a copy of the manifests instead (how ``make test`` runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from facetrail.models.manifest import Calibration, PackManifest  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pack")
    parser.add_argument("calibration", type=Path)
    parser.add_argument("--packs-dir", type=Path, default=REPO / "src" / "facetrail" / "packs")
    args = parser.parse_args()
    calibration_file = args.calibration
    target = args.packs_dir / f"{args.pack}.json"
    manifest = json.loads(target.read_text())
    calibration = Calibration.model_validate_json(calibration_file.read_text())
    manifest["calibration"] = calibration.model_dump(mode="json")
    PackManifest.model_validate(manifest)
    target.write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"{target}: {len(calibration.scores)} points, {calibration.impostor_pairs} impostor pairs"
    )


if __name__ == "__main__":
    main()

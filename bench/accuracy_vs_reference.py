"""The product's accuracy beside the plain raw reference, measured in the same run.

Runs ``bench/raw_reference.py`` and ``facetrail eval identification`` on the same dataset and
pack, single-threaded, one after the other, and prints both with the verdict: the product's
rank-1 must be >= the reference's and its FNIR@FPIR=0.01 <= the reference's.

    .venv/bin/python bench/accuracy_vs_reference.py --pack arcface-mbf [--limit-identities N]

``make test`` runs it on the first few identities so it cannot rot; only the whole dataset's
figures mean anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("FACETRAIL_TEST_DATA", REPO.parent / "shared" / "data"))
    parser.add_argument("--dataset", type=Path, default=default_data / "lfw-dev")
    parser.add_argument("--pack", default="arcface-mbf", choices=["arcface-mbf", "sface"])
    parser.add_argument("--json", type=Path, help="write both sets of figures here")
    parser.add_argument(
        "--limit-identities", type=int, help="only the first N identity folders (a quick run)"
    )
    args = parser.parse_args()
    limit = [] if args.limit_identities is None else [str(args.limit_identities)]
    with tempfile.TemporaryDirectory() as tmp:
        raw_json, product_json = Path(tmp) / "raw.json", Path(tmp) / "product.json"
        subprocess.run(
            [
                sys.executable,
                str(REPO / "bench" / "raw_reference.py"),
                "--pack",
                args.pack,
                "--dataset",
                str(args.dataset),
                "--threads",
                "1",
                "--json",
                str(raw_json),
                *(["--limit-identities", *limit] if limit else []),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        env = {**os.environ, "FACETRAIL_HOME": str(Path(tmp) / "home"), "FACETRAIL_THREADS": "1"}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "facetrail",
                "eval",
                "identification",
                "--dataset",
                str(args.dataset),
                "--pack",
                args.pack,
                "--workers",
                "1",
                "--json",
                str(product_json),
                *(["--limit-identities", *limit] if limit else []),
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        raw, product = json.loads(raw_json.read_text()), json.loads(product_json.read_text())
    rows = [
        ("rank-1", raw["rank1"], product["rank1"], product["rank1"] >= raw["rank1"]),
        (
            "FNIR@FPIR=0.01",
            raw["fnir_at_fpir"]["0.01"]["fnir"],
            product["fnir_at_fpir"]["0.01"]["fnir"],
            product["fnir_at_fpir"]["0.01"]["fnir"] <= raw["fnir_at_fpir"]["0.01"]["fnir"],
        ),
        (
            "FNIR@FPIR=0.003",
            raw["fnir_at_fpir"]["0.003"]["fnir"],
            product["fnir_at_fpir"]["0.003"]["fnir"],
            None,
        ),
        (
            "failure to template",
            raw["failure_to_template"]["rate"],
            product["failure_to_template_rate"],
            None,
        ),
    ]
    print(f"{args.pack} on {args.dataset}")
    print(f"{'':22}{'reference':>12}{'facetrail':>12}  verdict")
    for name, ref, ours, ok in rows:
        verdict = "" if ok is None else ("ok" if ok else "WORSE")
        print(f"{name:22}{ref * 100:11.2f}%{ours * 100:11.2f}%  {verdict}")
    print(
        f"{'images/s (1 thread)':22}{raw['images_per_second']:12.1f}"
        f"{product['faces_per_second']:12.1f}"
    )
    if args.json:
        args.json.write_text(json.dumps({"reference": raw, "facetrail": product}, indent=2))
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Per-notebook wall-clock time in the tiny profile, against the 4-minute budget per notebook.

Also measures, side by side in the same run, building the tiny summarizer from scratch (a cold cache)
against loading it from labkit's cache (what every later notebook does).

    make bench            # or: LABKIT_PROFILE=tiny python bench/bench_notebooks.py [NOTEBOOK ...]
"""

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LABKIT_PROFILE", "tiny")
BUDGET_S = 240

from labkit import config, notebooks, tiny  # noqa: E402
from labkit.models import load_summarizer  # noqa: E402


def cold_vs_warm() -> None:
    real_cache = os.environ.get("LABKIT_CACHE")
    with tempfile.TemporaryDirectory() as empty:
        os.environ["LABKIT_CACHE"] = empty
        start = time.perf_counter()
        tiny.summarizer_path()
        cold = time.perf_counter() - start
    if real_cache is None:
        os.environ.pop("LABKIT_CACHE")
    else:
        os.environ["LABKIT_CACHE"] = real_cache
    tiny.summarizer_path()  # make sure the real cache is warm
    start = time.perf_counter()
    load_summarizer()
    warm = time.perf_counter() - start
    print(f"tiny summarizer: build {cold:.1f} s (cold cache) vs load {warm:.2f} s (warm): {cold / warm:.0f}x")


def main(paths) -> None:
    config.get_profile()
    cold_vs_warm()
    paths = [Path(p) for p in paths] or sorted(notebooks.solutions_dir().glob("*.ipynb"))
    rows = []
    for path in paths:
        result = notebooks.execute(path, timeout=900)
        rows.append((path.name, result.seconds, result.ok))
        print(f"  {path.name:<45} {result.seconds:7.1f} s  {result.seconds / BUDGET_S:5.2f} of budget  "
              f"{'ok' if result.ok else 'FAILED: ' + result.error}", flush=True)
    total = sum(r[1] for r in rows)
    print(f"  {'total':<45} {total:7.1f} s  (budget {BUDGET_S} s per notebook, slowest "
          f"{max(r[1] for r in rows) / BUDGET_S:.2f} of it)")


if __name__ == "__main__":
    main(sys.argv[1:] if sys.argv[0].endswith("bench_notebooks.py") else [])

"""Run every benchmark in bench/ (files named bench_*.py), one after another: `make bench`."""

import runpy
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
selected = sys.argv[1:]
for script in sorted(here.glob("bench_*.py")):
    if selected and not any(s in script.name for s in selected):
        continue
    print(f"\n### {script.name}\n", flush=True)
    runpy.run_path(str(script), run_name="__main__")

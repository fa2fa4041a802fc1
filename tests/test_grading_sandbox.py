"""The grading sandbox against a hostile class, hidden checks, shards and merging, and ``labkit release``.

One class is graded once (as two shards, then merged): each learner is an attack from issue #27 on a small
solution notebook built here from notebook 00's first two exercises - killing the grader, leaving a process
running, snooping on the other submissions, the grades and the solutions, a fork bomb, allocating past the memory
limit (in one process and in several), filling the disk - plus a learner who passes the visible check but not
the hidden one, and one who solved everything. The grader must come back, give each attack a recorded status and
grade everyone else exactly.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit import config, exercises, grading, notebooks
from labkit.grading import release, reports, sandbox, state

ROOT = Path(__file__).resolve().parent.parent
NB = "00_lifecycle.ipynb"
STEM = NB.removesuffix(".ipynb")
LIMITS = sandbox.Limits(memory_mb=1024, processes=64, disk_mb=64)
MARKER = "labkit-test-detached-7f3a"  # in the command line of the process the daemon learner leaves behind

needs_sandbox = pytest.mark.skipif(
    not sandbox.available(),
    reason=f"the grading sandbox is not available here ({sandbox.status()}); install with: {sandbox.INSTALL}")


# --------------------------------------------------------------------------------------------------
# A small solution notebook: notebook 00's first two exercises, their headings and checks
# --------------------------------------------------------------------------------------------------
def small_solution():
    full = nbformat.read(ROOT / "solutions" / NB, as_version=4)
    found = exercises.list_exercises(full, NB)[:2]
    nb = nbformat.v4.new_notebook()
    nb.metadata = copy.deepcopy(full.metadata)
    nb.cells.append(nbformat.v4.new_markdown_cell("# The grading sandbox's test notebook"))
    for ex in found:
        heading = next(c for c in full.cells if c.cell_type == "markdown"
                       and any(m.group(1) == ex.id for m in exercises.HEADING.finditer(c.source)))
        nb.cells += [copy.deepcopy(heading), copy.deepcopy(full.cells[ex.cell]), copy.deepcopy(full.cells[ex.check])]
    return nb, [ex.id for ex in found]


def answer(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if line.strip() not in (exercises.BEGIN, exercises.END))


def solved(solution):
    nb = notebooks.lab_from_solution(solution)
    for lab_cell, sol_cell in zip(nb.cells, solution.cells, strict=True):
        if exercises.has_solution(sol_cell):
            lab_cell.source = answer(sol_cell.source)
    return nb


def with_cell(nb, exercise_id: str, source: str, replace: bool = False):
    nb = copy.deepcopy(nb)
    cell = next(c for c in nb.cells if exercises.exercise_id(c) == exercise_id)
    cell.source = source if replace else cell.source + "\n" + source
    return nb


HIDDEN = '''
from labkit.checks.base import close, require


def zero_memory_with_three_gpus(ns):
    got = float(ns["zero_memory_gb"](3e9, 3, 3))
    require(close(got, 16 * 3e9 / 3 / 1e9, 1e-6), f"SECRET-HINT stage 3 on 3 GPUs gave {got:.4g} GB")


HIDDEN = {"00.2": [zero_memory_with_three_gpus]}
'''


def attacks(first: str, second: str, paths: dict[str, str], port: int) -> dict[str, list[tuple[str, str]]]:
    """(exercise, code added to its cell) for each attack of each attacking learner."""
    snoop = f'''
import json, os, pathlib, _socket
chain, pid = [], os.getppid()
while pid > 0 and len(chain) < 10:
    try:
        chain.append(pathlib.Path(f"/proc/{{pid}}/cmdline").read_bytes().replace(b"\\0", b" ").decode())
        pid = int(pathlib.Path(f"/proc/{{pid}}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
found = []
for target in {sorted(paths.values())!r}:
    try:
        found.append([target, sorted(os.listdir(target))[:5] if os.path.isdir(target) else
                      pathlib.Path(target).read_bytes()[:40].decode("utf-8", "replace")])
    except OSError:
        pass
net = []
for address in (("127.0.0.1", {port}), ("1.1.1.1", 53)):
    raw = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    raw.settimeout(3)
    try:
        raw.connect(address)
        net.append([address[0], "connected"])
    except OSError as err:
        net.append([address[0], type(err).__name__])
    finally:
        raw.close()
home = {str(Path.home())!r}
print("SNOOP " + json.dumps({{"chain": chain, "found": found, "net": net,
                             "home": sorted(os.listdir(home)) if os.path.isdir(home) else [],
                             "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}}))
'''
    cheat = f'''
import json, pathlib
import labkit.config
places = [labkit.config.REPO_ROOT / "solutions" / "{NB}", pathlib.Path({paths["solutions"]!r}) / "{NB}"]
readable = [p for p in places if p.is_file()]
if not readable:
    raise FileNotFoundError("no solution notebook in reach: " + ", ".join(map(str, places)))
cells = json.loads(readable[0].read_text())["cells"]
exec(next("".join(c["source"]) for c in cells if "training_gb =" in "".join(c["source"])))
'''
    later = f"import time, pathlib; time.sleep(600); pathlib.Path({paths['out']!r}, 'grades.csv').write_text('hacked')"
    kill = ("import os, signal\nfor target in (os.getppid(), 1, -1):\n    try:\n"
            "        os.kill(target, signal.SIGKILL)\n    except OSError as err:\n"
            "        print(target, type(err).__name__)")
    detach = ("import subprocess, sys\n"
              f"later = {later!r}\n"
              f"subprocess.Popen([sys.executable, '-c', later, '{MARKER}'], start_new_session=True, "
              "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    return {
        # the parent, PID 1 and everything it may signal: refused (another user) or ignored (PID 1 of its
        # namespace); then a process in a session of its own that would rewrite the grades ten minutes later
        "escaper": [(first, kill + "\n" + detach)],
        "snoop": [(first, snoop)],
        "cheat": [(first, cheat)],
        "forkbomb": [(first, "import os\nwhile True:\n    os.fork()")],
        # one allocation past the memory limit, then (in the next exercise) files until the disk is full
        "hoarder": [(first, "blob = bytearray(2 * 2**30)"),
                    (second, "with open('fill.bin', 'wb') as handle:\n    while True:\n"
                             "        handle.write(b'\\0' * 2**20)")],
        # eight processes, each under the memory limit (what a copy of the kernel has room for), over it together
        "memhogs": [(first, "import os, time\nfor _ in range(8):\n    if os.fork() == 0:\n        blocks = []\n"
                            "        try:\n            for _ in range(8):\n"
                            "                blocks.append(bytearray(50 * 2**20))\n"
                            "                blocks[-1][::4096] = b'x' * len(range(0, 50 * 2**20, 4096))\n"
                            "        except MemoryError:\n            pass\n"
                            "        time.sleep(60)\n        os._exit(0)\ntime.sleep(60)")],
        "hider": [(second, "_right = zero_memory_gb\n\ndef zero_memory_gb(n_params, n_gpus, stage):\n"
                           "    return 0.0 if n_gpus == 3 else _right(n_params, n_gpus, stage)")],
    }


def read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def running_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    solution, (first, second) = small_solution()
    (root / "solutions").mkdir()
    nbformat.write(solution, root / "solutions" / NB)
    (root / "hidden").mkdir()
    (root / "hidden" / f"{STEM}.py").write_text(HIDDEN, encoding="utf-8")
    subs = root / "subs"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    paths = {"submissions": str(subs), "ada": str(subs / "ada" / NB), "out": str(root / "out-1"),
             "merged": str(root / "merged"), "solutions": str(root / "solutions"), "hidden": str(root / "hidden"),
             "repo solutions": str(config.REPO_ROOT / "solutions"), "labs": str(config.REPO_ROOT / "labs"),
             "tests": str(ROOT / "tests")}
    learners = {"ada": solved(solution)}
    for name, edits in attacks(first, second, paths, listener.getsockname()[1]).items():
        learners[name] = solved(solution)
        for exercise, code in edits:
            learners[name] = with_cell(learners[name], exercise, code, replace=name == "cheat")
    for name, nb in learners.items():
        (subs / name).mkdir(parents=True)
        nbformat.write(nb, subs / name / NB)
    common = [str(subs), "--solutions", str(root / "solutions"), "--hidden-checks", str(root / "hidden"),
              "--timeout", "60", "--notebook-timeout", "240", "--jobs", "2", "--memory", str(LIMITS.memory_mb),
              "--processes", str(LIMITS.processes), "--disk", str(LIMITS.disk_mb)]
    codes = [grading.main([*common, "--out", str(root / f"out-{i}"), "--shard", f"{i}/2"]) for i in (1, 2)]
    leftovers = running_with(MARKER)
    merged = grading.main(["merge", str(root / "out-1"), str(root / "out-2"), "--out", str(root / "merged")])
    try:
        connection = listener.accept()[0]
        connection.close()
        reached = True
    except BlockingIOError:
        reached = False
    listener.close()
    return {"root": root, "codes": codes, "merged_code": merged, "ids": (first, second), "leftovers": leftovers,
            "out": root / "merged", "learners": learners, "reached": reached, "paths": paths}


def grades(hostile_class) -> dict[str, dict[str, tuple[str, str]]]:
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for row in read_csv(hostile_class["out"] / "grades.csv"):
        found.setdefault(row["learner"], {})[row["exercise"]] = (row["status"], row["detail"])
    return found


@needs_sandbox
@pytest.mark.slow
@pytest.mark.notebook
def test_the_grader_survives_and_grades_every_attack(hostile_class):
    assert hostile_class["codes"] == [0, 0] and hostile_class["merged_code"] == 0
    first, second = hostile_class["ids"]
    got = grades(hostile_class)
    assert sorted(got) == sorted(hostile_class["learners"])
    status = {learner: (got[learner][first][0], got[learner][second][0]) for learner in got}
    assert status == {
        "ada": ("pass", "pass"),
        "escaper": ("pass", "pass"),  # the grader is in another PID namespace; the detached process dies
        "snoop": ("pass", "pass"),  # sees nothing (test_a_learner_sees_...)
        "cheat": ("error", "pass"),  # no solutions in reach
        "forkbomb": ("limit", "blocked"),  # forks refused at the limit: the sandbox is stopped
        "hoarder": ("limit", "limit"),  # MemoryError, then a full disk: the kernel lives on after both
        "memhogs": ("limit", "blocked"),  # processes over the limit together: the sandbox was stopped
        "hider": ("pass", "fail"),
    }
    assert got["cheat"][first][1].startswith("FileNotFoundError: no solution notebook in reach")
    assert "process limit (64 processes and threads)" in got["forkbomb"][first][1]
    assert got["forkbomb"][second][1].startswith(f"the sandbox was stopped in exercise {first}")
    assert got["hoarder"][first][1] == "the sandbox's memory limit (1024 MB): the exercise cell raised MemoryError"
    assert got["memhogs"][first][1].startswith("the sandbox's memory limit (1024 MB): the exercise cell went over it")
    assert got["hoarder"][second][1].startswith("the sandbox's output-size limit (64 MB of files in all): the "
                                                "exercise cell raised OSError: [Errno 2")
    assert got["hider"][second][1].startswith("a hidden check failed: zero_memory_with_three_gpus: SECRET-HINT")


@needs_sandbox
@pytest.mark.slow
@pytest.mark.notebook
def test_nothing_outlives_its_sandbox_nor_reaches_the_grader(hostile_class):
    assert hostile_class["leftovers"] == [], "a learner's detached process outlived grading"
    assert running_with(MARKER) == []
    assert not hostile_class["reached"], "a learner's kernel reached a port on the grader's loopback"
    for out in (hostile_class["root"] / "out-1", hostile_class["root"] / "out-2", hostile_class["out"]):
        if (out / "grades.csv").is_file():
            assert "hacked" not in (out / "grades.csv").read_text(encoding="utf-8")


@needs_sandbox
@pytest.mark.slow
@pytest.mark.notebook
def test_a_learner_sees_no_other_submission_grades_solutions_or_home(hostile_class):
    executed = nbformat.read(hostile_class["out"] / "executed" / "snoop" / NB, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    report = json.loads(re.search(r"^SNOOP (.*)$", text, re.MULTILINE).group(1))
    assert report["found"] == [], f"visible from inside the sandbox: {report['found']}"
    assert len(report["chain"]) == 1 and "supervise.py" in report["chain"][0]  # PID 1, then nothing above it
    for secret in hostile_class["paths"].values():
        assert secret not in report["chain"][0]
    assert len(report["pids"]) < 10  # its own PID namespace: the kernel, the supervisor, not the host's processes
    # the grader's home shows only the empty folders on the way to what is bound (the Python, the model cache)
    home = Path.home()
    on_the_way = {Path(p).relative_to(home).parts[0] for p in sandbox.SandboxSpec.for_grading("tiny", LIMITS).binds
                  if Path(p).is_relative_to(home)}
    assert set(report["home"]) <= on_the_way, report["home"]
    assert report["net"] and all(state != "connected" for _, state in report["net"]), report["net"]


@needs_sandbox
@pytest.mark.slow
@pytest.mark.notebook
def test_hidden_checks_stay_with_the_instructor(hostile_class):
    out = hostile_class["out"]
    feedback = (out / "feedback" / "hider.md").read_text(encoding="utf-8")
    assert reports.HIDDEN_FEEDBACK in feedback and "SECRET-HINT" not in feedback
    assert "SECRET-HINT" in (out / "grades.csv").read_text(encoding="utf-8")  # the instructor's copy says how
    for learner in hostile_class["learners"]:
        path = out / "executed" / learner / NB
        if path.is_file():
            assert "zero_memory_with_three_gpus" not in path.read_text(encoding="utf-8")
    ada = (out / "feedback" / "ada.md").read_text(encoding="utf-8")
    assert "2 of 2 exercises pass" in ada


# --------------------------------------------------------------------------------------------------
# Shards and merging, without a kernel
# --------------------------------------------------------------------------------------------------
def cheap_class(root: Path) -> tuple[Path, Path]:
    solution, (first, second) = small_solution()
    (root / "solutions").mkdir(parents=True)
    nbformat.write(solution, root / "solutions" / NB)
    subs = root / "subs"
    for number in range(7):  # flagged (each on its own line) or unreadable: graded without a kernel
        (subs / f"learner{number}").mkdir(parents=True)
        text = nbformat.writes(with_cell(solved(solution), (first, second)[number % 2], "import ctypes\n" * number))
        (subs / f"learner{number}" / NB).write_text(text if number % 3 else text[:200], encoding="utf-8")
    (subs / "misnamed").mkdir()
    nbformat.write(solved(solution), subs / "misnamed" / "lab00.ipynb")
    return root / "solutions", subs


def test_shards_merged_equal_one_run(tmp_path):
    solutions, subs = cheap_class(tmp_path)
    whole = grading.grade_class(subs, tmp_path / "whole", solutions, progress=False, sandboxed=False)
    parts = [grading.grade_class(subs, tmp_path / f"part{i}", solutions, progress=False, sandboxed=False,
                                 shard=f"{i}/3") for i in (1, 2, 3)]
    assert sum(p.learners for p in parts) == whole.learners == 8
    assert all(p.learners < whole.learners for p in parts)
    merged = grading.merge([tmp_path / f"part{i}" for i in (3, 1, 2)], tmp_path / "merged")
    assert merged.rows == whole.rows
    for name in ("grades.csv", "summary.md", "junit.xml"):
        assert (tmp_path / "merged" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    for path in (tmp_path / "whole" / "feedback").iterdir():
        assert (tmp_path / "merged" / "feedback" / path.name).read_bytes() == path.read_bytes()
    rerun = grading.grade_class(subs, tmp_path / "merged", solutions, progress=False, sandboxed=False)
    assert rerun.graded == 0 and rerun.rows == whole.rows  # the merged state serves a later whole run


def test_merge_says_what_is_wrong(tmp_path, capsys):
    solutions, subs = cheap_class(tmp_path)
    for i in (1, 2):
        grading.grade_class(subs, tmp_path / f"part{i}", solutions, progress=False, sandboxed=False, shard=f"{i}/3")
    with pytest.raises(ValueError, match="missing 3/3"):
        grading.merge([tmp_path / "part1", tmp_path / "part2"], tmp_path / "merged")
    with pytest.raises(ValueError, match="given twice: 1/3"):
        grading.merge([tmp_path / "part1", tmp_path / "part1", tmp_path / "part2"], tmp_path / "merged")
    assert grading.main(["merge", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m")]) == 2
    assert "holds no grades" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--shard takes I/N"):
        state.parse_shard("3/2")


def test_every_learner_is_in_exactly_one_shard():
    names = [f"learner-{i}" for i in range(200)] + ["Zoë", "bob.zip", ""]
    for count in (1, 2, 5):
        owners = [[i for i in range(1, count + 1) if state.in_shard(name, (i, count))] for name in names]
        assert all(len(o) == 1 for o in owners)
    assert 60 < sum(state.in_shard(n, (1, 2)) for n in names) < 140


# --------------------------------------------------------------------------------------------------
# Without a sandbox: one line, and no grading unless asked
# --------------------------------------------------------------------------------------------------
def test_grading_refuses_without_a_sandbox(tmp_path, monkeypatch, capsys):
    solutions, subs = cheap_class(tmp_path)
    monkeypatch.setattr(sandbox, "_probe", lambda: ("", "", f"MISSING - install with: {sandbox.INSTALL}",
                                                    frozenset()))
    args = [str(subs), "--out", str(tmp_path / "out"), "--solutions", str(solutions)]
    assert grading.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install bubblewrap" in err and "--unsafe-no-sandbox" in err
    assert not (tmp_path / "out").exists()
    assert sandbox.status() == "MISSING - install with: apt-get install bubblewrap"
    assert grading.main([*args, "--unsafe-no-sandbox"]) == 0
    assert "--unsafe-no-sandbox" in capsys.readouterr().err
    assert (tmp_path / "out" / "grades.csv").is_file()


def test_status_is_one_line():
    line = sandbox.status()
    assert "\n" not in line
    if sandbox.available():
        assert re.fullmatch(r"bubblewrap \S+ at /\S+, user namespaces work", line)
    else:
        assert line.startswith("MISSING") or "bubblewrap" in line


def test_limits_and_private_folders_are_checked(tmp_path):
    with pytest.raises(ValueError, match="memory mb must be a positive whole number"):
        sandbox.Limits(memory_mb=0)
    if sandbox.available():
        with pytest.raises(ValueError, match="overlaps"):
            sandbox.SandboxSpec.for_grading("tiny", LIMITS, private={"submissions": config.data_dir() / "x"})


# --------------------------------------------------------------------------------------------------
# The kernel's side, the digest, hidden-check files
# --------------------------------------------------------------------------------------------------
def test_a_kernel_imports_only_the_integrity_module():
    code = ("import sys, labkit.grading.integrity as g\ng.kernel_snapshot()\n"
            "print(sorted(m for m in sys.modules if m.startswith('labkit.grading')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['labkit.grading', 'labkit.grading.integrity']"


def test_the_regrade_digest_covers_what_the_checks_import():
    files = {p.relative_to(ROOT / "labkit").as_posix() for p in state.checked_modules()}
    assert {"checks/lifecycle.py", "lifecycle.py", "exercises.py", "chapters.py", "grading/integrity.py",
            "grading/sandbox.py"} <= files
    solution = grading.solution_from(small_solution()[0], NB, "x")
    assert state.grader_digest(solution, {"a": 1}) != state.grader_digest(solution, {"a": 2})


def test_hidden_check_files_are_read_without_running_them(tmp_path):
    solution = grading.solution_from(small_solution()[0], NB, "x")
    path = tmp_path / f"{STEM}.py"
    path.write_text(HIDDEN, encoding="utf-8")
    hidden = grading.solutions.load_hidden(path, solution)
    assert hidden.exercises == ("00.2",)
    path.write_text(HIDDEN.replace('"00.2"', '"00.9"'), encoding="utf-8")
    with pytest.raises(ValueError, match="hidden checks for 00.9"):
        grading.solutions.load_hidden(path, solution)
    path.write_text("import os\nos.remove('x')\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no `HIDDEN = "):
        grading.solutions.load_hidden(path, solution)


def needed_cells(solution, exercise_ids) -> list[int]:
    """The code cells the given exercises and their checks need, in order (what they read, transitively)."""
    from labkit.grading.scan import cell_names

    keep = {i for ex in solution.exercises if ex.id in exercise_ids for i in (ex.cell, ex.check)}
    needed = set().union(*(cell_names(solution.nb.cells[i].source)[1] for i in keep))
    for index in range(max(keep), -1, -1):
        cell = solution.nb.cells[index]
        if cell.cell_type == "code" and index not in keep:
            bound, reads = cell_names(cell.source) or (set(), set())
            if bound & needed:
                keep.add(index)
                needed |= reads
    return sorted(keep)


def test_the_kits_hidden_checks_pass_on_the_solution():
    """instructor/hidden_checks: every notebook's file names its exercises, and the solution passes it."""
    files = sorted((ROOT / grading.HIDDEN_DIR).glob("*.py"))
    assert files, "the kit ships at least one hidden check (instructor/hidden_checks)"
    for path in files:
        solution = grading.load_solution(ROOT / "solutions" / f"{path.stem}.ipynb")
        hidden = grading.solutions.load_hidden(path, solution)
        if path.stem != STEM:
            continue  # running a whole heavy notebook here is the graded class's job
        namespace: dict = {}
        for index in needed_cells(solution, hidden.exercises):
            exec(compile(grading.python_source(answer(solution.nb.cells[index].source)), "<cell>", "exec"),
                 namespace)  # noqa: S102 - the kit's own solution
        for exercise_id in hidden.exercises:
            grading.run_hidden(exercise_id, hidden.source, "<hidden>", namespace)


# --------------------------------------------------------------------------------------------------
# labkit release
# --------------------------------------------------------------------------------------------------
def kit_copy(root: Path) -> Path:
    """The instructor's kit as it would be committed: this one's solutions, with labs built from them."""
    import shutil

    kit = root / "kit"
    for name in ("labkit", "data", "configs", "solutions", "instructor"):
        shutil.copytree(ROOT / name, kit / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "environment.yml", ".ci/constraints.txt"):
        (kit / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, kit / name)
    notebooks.build_labs(kit / "solutions", kit / "labs")
    return kit


def test_a_release_has_no_solutions_and_no_hidden_checks(tmp_path, capsys, monkeypatch):
    from labkit import cli

    kit = kit_copy(tmp_path)
    monkeypatch.setattr(config, "REPO_ROOT", kit)
    dest = tmp_path / "release"
    assert cli.main(["release", str(dest)]) == 0
    assert "no solutions/, no hidden checks" in capsys.readouterr().out
    names = {p.relative_to(dest).parts[0] for p in dest.rglob("*")}
    assert {"labs", "labkit", "data", "README.md", "pyproject.toml", release.MANIFEST} <= names
    assert not names & {"solutions", "instructor", "tests", "docs", "bench", "tools"}
    assert sorted(p.name for p in (dest / "labs").glob("*.ipynb")) == sorted(
        p.name for p in (kit / "solutions").glob("*.ipynb"))
    hidden = {p.read_bytes() for p in (kit / "instructor").rglob("*.py")}
    assert hidden and not any(p.read_bytes() in hidden for p in dest.rglob("*") if p.is_file())
    assert release.check_release(dest, kit) == []
    assert "pytest --nbmake labs/00_lifecycle.ipynb" in (dest / "README.md").read_text(encoding="utf-8")
    # a learner's kit carries no solutions for REPO_ROOT / "solutions" to find
    code = "import labkit.config as c\nprint(c.REPO_ROOT, (c.REPO_ROOT / 'solutions').exists())"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = subprocess.run([sys.executable, "-c", code], cwd=dest, capture_output=True, text=True, env=env,
                           check=True).stdout
    assert found.split() == [str(dest), "False"]  # labkit imported from the release, which has no solutions/

    assert cli.main(["release", str(dest)]) == 2
    assert "--force" in capsys.readouterr().err
    assert cli.main(["release", str(dest), "--force"]) == 0
    (dest / "labs" / NB).write_bytes((kit / "solutions" / NB).read_bytes())
    assert any("holds a solution" in p or "is a solution notebook" in p for p in release.check_release(dest, kit))
    assert cli.main(["release", str(kit / "labs" / "x")]) == 2
    (kit / "solutions" / NB).write_text((kit / "solutions" / NB).read_text(encoding="utf-8").replace(
        "Exercise 00.1", "Exercise 00.1 (changed)", 1), encoding="utf-8")
    assert cli.main(["release", str(tmp_path / "stale")]) == 2
    assert "labs/ is out of date for 00_lifecycle.ipynb" in capsys.readouterr().err


def test_a_kit_under_tmp_gets_a_tmp_of_its_own_instead_of_the_symlink(tmp_path):
    """A clone in a temporary folder binds paths below /tmp; /tmp then cannot be a symlink (bwrap would fail and
    every kernel die before replying), so it becomes a capped tmpfs under the binds."""
    def argv(binds):
        spec = sandbox.SandboxSpec(bwrap="bwrap", limits=LIMITS, binds=binds, cache=binds[-1])
        return spec.command(["python", "-m", "ipykernel_launcher"], str(tmp_path / "kernel.json"), 3, 60.0)

    def pairs(args):
        return list(zip(args, args[1:], strict=False))

    under_tmp = argv(("/tmp/tmp.x/k/.venv", "/tmp/tmp.x/cache"))
    tmpfs = under_tmp.index("/tmp", under_tmp.index("--tmpfs"))
    assert ("--tmpfs", "/tmp") in pairs(under_tmp) and ("/sandbox/tmp", "/tmp") not in pairs(under_tmp)
    assert tmpfs < under_tmp.index("/tmp/tmp.x/k/.venv")  # the tmpfs first, the binds on top of it
    elsewhere = argv(("/opt/kit/.venv", "/opt/kit/cache"))
    assert ("/sandbox/tmp", "/tmp") in pairs(elsewhere) and ("--tmpfs", "/tmp") not in pairs(elsewhere)

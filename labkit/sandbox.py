"""A small sandbox for running model-written Python: the engine behind notebook 10 (PAL).

In program-aided language models (PAL) the LLM does not compute the answer to a word problem; it
writes a short Python program that does, and the notebook runs that program.
:func:`run_python` is the "runs that program" part::

    result = run_python(program, timeout_s=5, answer_var="answer")
    result.ok, result.answer, result.stdout, result.error

Code a model wrote is untrusted: it may loop forever, allocate 10 GB, print without end, read
``~/.aws/credentials`` or call home. :func:`run_python` runs it in a separate, short-lived Python
process (standard library only) and guarantees:

* **The notebook survives.** Memory (``RLIMIT_AS``), CPU time (``RLIMIT_CPU``) and wall-clock time
  (the parent kills the whole process group at ``timeout_s``) are capped. Output is read in
  bounded chunks: the result keeps at most ``max_output_chars`` characters, and a program that
  prints more than about 1 MB is stopped. Bad code never raises: it comes back as ``ok=False``
  with a one-line ``error`` such as ``"TimeoutError: the program ran longer than 5 s (wall
  clock)"``, ``"MemoryError: the program exceeded the 256 MB memory limit"`` or
  ``"ZeroDivisionError: division by zero (line 3)"``.
* **Your secrets stay out of reach.** The environment is empty (only ``PATH``, ``LANG``, ``HOME``
  and ``TMPDIR``), so keys and tokens in the notebook's environment are invisible. The working
  directory is a fresh temporary folder, deleted afterwards. The program may read that folder and
  the Python standard library, write only inside the folder (each file at most 8 MB), and
  nothing else.
* **Nothing leaves the box.** Sockets, child processes, threads, signals, ``ctypes`` and changes
  to the limits are refused with ``PermissionError: blocked by the sandbox: ...``.

The guards come in three layers:

1. *OS process limits*, set in the child before Python starts: ``RLIMIT_AS``, ``RLIMIT_CPU``,
   ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE``, ``RLIMIT_CORE`` = 0, and ``RLIMIT_NPROC`` = 0 (which the
   kernel does not enforce for root); a new session so one ``killpg`` ends everything; an empty
   environment; the program passed in a file, never on the command line.
2. *Linux namespaces, when the machine allows them* (via ``unshare``; see :func:`sandbox_layers`):
   a new network namespace, where no packet can leave whatever the code does, and a new PID
   namespace, where the notebook's processes are invisible and cannot be signalled.
3. *A Python audit hook* (:pep:`578`), installed by the child program (``labkit/sandbox_child.py``,
   standard library only, run by path under ``python -I -S``) before the program runs and
   impossible to remove: it vets ``open``, folder listings, renames, deletions, links,
   ``chdir``, ``socket.*``, ``subprocess``/``os.system``/``os.fork``/``os.exec*``/
   ``posix_spawn``, ``os.kill``, ``import ctypes`` and other low-level modules, ``sys.settrace``
   and ``gc`` introspection. Paths are resolved (symbolic links included) with functions captured
   before the program runs, so patching ``os`` from the program does not fool the check. What
   CPython does not audit - starting threads, installing signal handlers, ``os.mkfifo``,
   ``os.pidfd_open``, ... - is replaced by functions that refuse; with no second thread and no
   signal handler nothing can race a check.

Limits, honestly: this is a *teaching* sandbox. It contains accidents and casually hostile model
output; it is not a security boundary for hostile multi-tenant use. Files are protected by the
audit hook alone, a Python-level guard running in the very process it guards: CPython does not
audit everything (``os.stat``/``os.readlink`` can still tell which paths exist anywhere) and a
determined attacker may find an interpreter-level trick around it. Without namespaces the network
and signal guards rest on the hook too, and as root ``RLIMIT_NPROC`` does not apply, so process
creation is then blocked by the hook only. Disk use is bounded per file and by the time limit,
not in total. For real isolation run this inside a container or VM (gVisor, Firecracker) or a
jail such as bubblewrap or nsjail.
"""

from __future__ import annotations

import ast
import functools
import json
import keyword
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["SandboxResult", "run_python", "sandbox_layers"]

#: A program printing more than this many bytes is stopped (the result keeps ``max_output_chars``).
OUTPUT_STOP_BYTES = 1_000_000
#: Size cap for each file the program writes in its working folder (``RLIMIT_FSIZE``).
FILE_LIMIT_MB = 8
#: The smallest memory limit a Python interpreter starts in, and the largest accepted.
MIN_MEMORY_MB, MAX_MEMORY_MB = 32, 1_048_576
#: The longest run accepted (seconds).
MAX_TIMEOUT_S = 3600
_OPEN_FILES = 64
_REPORT_CAP = 1_000_000
#: The longest ``repr`` of the answer variable the child reports (characters).
_ANSWER_CAP = 100_000
_CHILD_PATH = "/usr/bin:/bin"


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run produced.

    ``ok`` is True when the program finished without an exception (and set ``answer_var`` if one
    was asked for). ``stdout`` holds what it printed (standard error included), at most
    ``max_output_chars`` characters; ``truncated`` says whether anything was cut. ``error`` is a
    one-line explanation when ``ok`` is False. ``answer`` is the value of ``answer_var`` (parsed
    with :func:`ast.literal_eval`; values that are not Python literals come back as their
    ``repr`` string). ``seconds`` is the wall-clock time of the run.
    """

    ok: bool
    stdout: str
    error: str | None
    answer: Any | None
    seconds: float
    truncated: bool

    def __str__(self) -> str:
        """A readable summary for notebooks: status, error, answer, then the output."""
        lines = [f"{'ok' if self.ok else 'failed'} in {self.seconds:.2f} s"]
        if self.error:
            lines.append(f"error:  {self.error}")
        if self.ok and self.answer is not None:
            lines.append(f"answer: {self.answer!r}")
        if self.stdout:
            note = " (truncated)" if self.truncated else ""
            lines.append(f"output{note}:")
            lines.extend("  " + line for line in self.stdout.rstrip("\n").split("\n"))
        elif self.truncated:
            lines.append("output: (truncated to nothing)")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The child program, labkit/sandbox_child.py, runs in the child as
# `python -I -S ... sandbox_child.py WORKDIR PROGRAM REPORT_FD ...`: it sets the last limits,
# installs the audit hook, runs the program and reports on a private pipe. It is run by path
# (under -I -S it cannot import labkit) and uses the standard library only.
# --------------------------------------------------------------------------------------------
CHILD_PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sandbox_child.py")



# --------------------------------------------------------------------------------------------
# The parent side.
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _namespace_prefix() -> tuple[str, ...]:
    """The `unshare` command line that isolates network and PIDs here, or () if none works."""
    unshare = shutil.which("unshare") or ("/usr/bin/unshare" if os.path.exists("/usr/bin/unshare") else None)
    if unshare is None or not sys.platform.startswith("linux"):
        return ()
    user = () if os.geteuid() == 0 else ("--user",)
    candidates = [(unshare, *user, "--pid", "--fork", "--kill-child", "--net", "--"),
                  (unshare, *user, "--net", "--")]
    true = shutil.which("true") or "/bin/true"
    for prefix in candidates:
        try:
            done = subprocess.run([*prefix, true], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=10, env={"PATH": _CHILD_PATH})
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return prefix
    return ()


def sandbox_layers() -> dict[str, bool]:
    """Which isolation layers :func:`run_python` uses on this machine.

    The process limits, the empty environment and the audit hook are always on; the network and
    PID namespaces depend on whether ``unshare`` is allowed here (containers often forbid it).
    """
    prefix = _namespace_prefix()
    return {
        "separate process": True,
        "empty environment": True,
        "temporary working folder": True,
        "resource limits": True,
        "audit hook": True,
        "network namespace": "--net" in prefix,
        "pid namespace": "--pid" in prefix,
    }


def _check_args(code, timeout_s, memory_mb, max_output_chars, answer_var) -> None:
    if not isinstance(code, str):
        raise ValueError(f"code must be a string of Python source, not {type(code).__name__}.")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) \
            or not math.isfinite(timeout_s) or not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise ValueError(f"timeout_s must be a number of seconds in (0, {MAX_TIMEOUT_S}], got {timeout_s!r}.")
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) \
            or not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise ValueError(f"memory_mb must be an integer from {MIN_MEMORY_MB} (Python itself needs that "
                         f"much) to {MAX_MEMORY_MB}, got {memory_mb!r}.")
    if isinstance(max_output_chars, bool) or not isinstance(max_output_chars, int) or max_output_chars < 0:
        raise ValueError(f"max_output_chars must be a non-negative integer, got {max_output_chars!r}.")
    if answer_var is not None and (not isinstance(answer_var, str) or not answer_var.isidentifier()
                                   or keyword.iskeyword(answer_var)):
        raise ValueError(f"answer_var must be None or a Python variable name, got {answer_var!r}.")


def _set_limits(resource, memory_bytes: int, cpu_s: int, file_bytes: int) -> None:
    """preexec_fn: runs in the child between fork and exec; only setrlimit calls, no imports."""

    def cap(which, value, hard=None):
        hard = value if hard is None else hard
        _, old_hard = resource.getrlimit(which)
        if old_hard != resource.RLIM_INFINITY:
            value, hard = min(value, old_hard), min(hard, old_hard)
        resource.setrlimit(which, (value, hard))

    cap(resource.RLIMIT_AS, memory_bytes)
    cap(resource.RLIMIT_CPU, cpu_s, cpu_s + 1)
    cap(resource.RLIMIT_FSIZE, file_bytes)
    cap(resource.RLIMIT_NOFILE, _OPEN_FILES)
    cap(resource.RLIMIT_CORE, 0)


def _limits_fn(memory_mb: int, cpu_s: int):
    try:
        import resource  # Unix only
    except ImportError as exc:  # pragma: no cover - Windows
        raise RuntimeError("labkit's sandbox needs Linux or macOS (the `resource` module).") from exc
    return functools.partial(_set_limits, resource, memory_mb * 2**20, cpu_s, FILE_LIMIT_MB * 2**20)


def _exited(pid: int, deadline: float) -> bool:
    """Wait (without reaping, so the process group stays ours) until `pid` exits or the deadline."""
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _kill_group(proc: subprocess.Popen) -> None:
    for kill in (lambda: os.killpg(proc.pid, signal.SIGKILL), proc.kill):
        try:
            kill()
        except (ProcessLookupError, PermissionError, OSError):
            pass


def _format_seconds(value: float) -> str:
    return f"{value:g}"


def _crash_message(returncode: int, text: str, memory_mb: int, cpu_s: int) -> str:
    if "MemoryError" in text[-2000:]:
        return f"MemoryError: the program exceeded the {memory_mb} MB memory limit"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if -returncode == signal.SIGXCPU:
            return f"TimeoutError: the program used more than {cpu_s} s of CPU time"
        if -returncode == signal.SIGXFSZ:
            return f"OSError: the program wrote a file larger than the {FILE_LIMIT_MB} MB limit"
        if -returncode == signal.SIGKILL:
            return ("RuntimeError: the program was killed (SIGKILL), "
                    "probably by the CPU-time or memory limit")
        return f"RuntimeError: the program crashed ({name})"
    return f"RuntimeError: the program stopped without reporting a result (exit status {returncode})"


def _parse_answer(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        if text in ("nan", "inf", "-inf"):
            return float(text)
        return text


def _remove_tree(path: str) -> None:
    """Delete the working folder even if the program made parts of it read-only."""
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                try:
                    os.chmod(full, 0o700)
                except OSError:
                    pass
    shutil.rmtree(path, ignore_errors=True)


def run_python(code: str, timeout_s: float = 5.0, memory_mb: int = 256, max_output_chars: int = 10_000,
               answer_var: str | None = None) -> SandboxResult:
    """Run untrusted Python source in a sandboxed child process and report what happened.

    ``code`` runs as a fresh ``__main__`` module (standard library only) in a temporary working
    folder, with an empty environment, ``memory_mb`` of address space, a ``timeout_s`` wall-clock
    limit (and about as much CPU time), no network, no child processes, and file access limited
    to that folder (plus reading the standard library). The folder is deleted afterwards.

    If ``answer_var`` names a variable (PAL programs use ``"answer"``), its value after the run is
    returned in ``result.answer``; a program that does not set it fails with a ``NameError``.

    Never raises because of the program: timeouts, crashes, exceptions and blocked operations come
    back as ``ok=False`` with a one-line ``error``. Raises ``ValueError`` for bad arguments.
    """
    _check_args(code, timeout_s, memory_mb, max_output_chars, answer_var)
    if not sys.executable:
        raise RuntimeError("No Python interpreter path (sys.executable) to run the sandbox with.")
    if not os.path.isfile(CHILD_PROGRAM):
        raise RuntimeError(f"The sandbox's child program is missing: {CHILD_PROGRAM}. Reinstall labkit "
                           "(pip install -e .) from a complete checkout.")
    cpu_s = int(math.ceil(timeout_s)) + 1
    limits = _limits_fn(memory_mb, cpu_s)
    workdir = os.path.realpath(tempfile.mkdtemp(prefix="labkit-sandbox-"))
    try:
        program = os.path.join(workdir, "program.py")
        with open(program, "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(code)
        return _run(program, workdir, timeout_s, memory_mb, max_output_chars, answer_var, cpu_s, limits)
    finally:
        _remove_tree(workdir)


def _run(program, workdir, timeout_s, memory_mb, max_output_chars, answer_var, cpu_s, limits) -> SandboxResult:
    report_r, report_w = os.pipe()
    argv = [*_namespace_prefix(), sys.executable, "-I", "-S", "-B", "-u", "-X", "utf8", CHILD_PROGRAM,
            workdir, program, str(report_w), answer_var or "", str(memory_mb), str(FILE_LIMIT_MB), str(cpu_s),
            str(_ANSWER_CAP)]
    env = {"PATH": _CHILD_PATH, "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=workdir, env=env, pass_fds=(report_w,), close_fds=True,
                                start_new_session=True, preexec_fn=limits, umask=0o077)
    except BaseException:
        os.close(report_r)
        raise
    finally:
        os.close(report_w)

    deadline = start + timeout_s
    keep_bytes = 4 * (max_output_chars + 1)
    kept, report = bytearray(), bytearray()
    total = 0
    stopped = None  # "timeout" | "output"
    out_fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(out_fd, selectors.EVENT_READ)
        selector.register(report_r, selectors.EVENT_READ)
        try:
            while selector.get_map() and stopped is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    stopped = "timeout"
                    break
                for key, _ in selector.select(remaining):
                    try:
                        data = os.read(key.fd, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        selector.unregister(key.fd)
                    elif key.fd == out_fd:
                        total += len(data)
                        if len(kept) < keep_bytes:
                            kept += data[:keep_bytes - len(kept)]
                        if total > max(OUTPUT_STOP_BYTES, keep_bytes):
                            stopped = "output"
                    elif len(report) < _REPORT_CAP:
                        report += data[:_REPORT_CAP - len(report)]
            if stopped is None and not _exited(proc.pid, deadline):
                stopped = "timeout"
        finally:
            _kill_group(proc)  # also sweeps anything left in the group
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
                pass
            proc.stdout.close()
            os.close(report_r)
    seconds = time.monotonic() - start

    text = kept.decode("utf-8", errors="replace")
    truncated = total > len(kept) or len(text) > max_output_chars
    text = text[:max_output_chars]

    answer = None
    if stopped == "timeout":
        ok, error = False, f"TimeoutError: the program ran longer than {_format_seconds(timeout_s)} s (wall clock)"
    elif stopped == "output":
        ok, error = False, (f"OutputLimitError: the program printed more than {OUTPUT_STOP_BYTES:,} bytes "
                            f"and was stopped (output truncated to {max_output_chars:,} characters)")
    else:
        try:
            parsed = json.loads(report.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if (isinstance(parsed, dict) and isinstance(parsed.get("ok"), bool)
                and isinstance(parsed.get("error"), (str, type(None)))
                and isinstance(parsed.get("answer"), (str, type(None)))):
            ok, error = parsed["ok"], parsed["error"]
            if ok and answer_var:
                answer = _parse_answer(parsed["answer"])
        else:
            ok, error = False, _crash_message(proc.returncode, text, memory_mb, cpu_s)
    return SandboxResult(ok=ok, stdout=text, error=error, answer=answer, seconds=round(seconds, 4),
                         truncated=truncated)

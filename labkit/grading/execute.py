"""Running a graded notebook: cell by cell in a fresh kernel, in a sandbox, with time limits and capped output.

nbclient (the engine nbmake uses) runs one cell at a time, so a cell that fails does not stop the ones after it.
Each cell gets an :class:`Outcome`: ok, error (with the exception), timeout, died (the kernel; with the limit
that stopped the sandbox, if one did), or skipped (why). The kernel's own stdout/stderr go through a pipe to
``<notebook>.kernel.log``, at most :data:`KERNEL_LOG_LIMIT` bytes of it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from labkit.grading import sandbox
from labkit.grading.assembly import GradingPlan

OUTPUT_LIMIT = 256 * 2**10  # output kept per executed cell; the rest is dropped with a note
KERNEL_LOG_LIMIT = 2**20  # bytes of the kernel's own stdout/stderr kept in its log
INTERRUPT_GRACE = 10  # seconds a kernel gets to stop after a cell timed out and was interrupted


@dataclass
class Outcome:
    """How one cell ran: ok, error (with the exception), timeout, died (the kernel), or skipped (why).

    ``limit`` names the sandbox limit behind an error or a death: memory, processes, disk or wall.
    """

    state: str
    ename: str = ""
    evalue: str = ""
    reason: str = ""
    limit: str = ""


@dataclass(frozen=True)
class RunSettings:
    """How every notebook of a grading run is executed. ``sandbox`` None: no isolation (--unsafe-no-sandbox)."""

    profile: str = "tiny"
    cell_timeout: int = 600
    notebook_timeout: int = 1800
    kernel_name: str = "python3"
    sandbox: sandbox.SandboxSpec | None = field(default=None, compare=False)

    def stamp(self) -> dict:
        """The settings a grade depends on (machine details such as paths left out, so shards can compare)."""
        from dataclasses import asdict

        return {"profile": self.profile, "cell_timeout": self.cell_timeout, "notebook_timeout": self.notebook_timeout,
                "kernel": self.kernel_name,
                "sandbox": asdict(self.sandbox.limits) if self.sandbox is not None else "none"}


def _output_size(content: dict) -> int:
    size = len(content.get("text", "") or "") + len(content.get("evalue", "") or "")
    size += sum(len(line) for line in content.get("traceback", []) or [])
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value, default=str))
    return size


def _client_class():
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """nbclient, keeping at most OUTPUT_LIMIT characters of output per cell."""

        def output(self, outs, msg, display_id, cell_index):
            kept = self._labkit_kept = getattr(self, "_labkit_kept", {})
            size = _output_size(msg.get("content", {}))
            if msg.get("msg_type") == "error":
                content = msg["content"]
                content["evalue"] = (content.get("evalue") or "")[:OUTPUT_LIMIT // 4]
                content["traceback"] = (content.get("traceback") or [])[-20:]
            elif kept.get(cell_index, 0) + size > OUTPUT_LIMIT:
                room = OUTPUT_LIMIT - kept.get(cell_index, 0)
                if room < 0:
                    return None
                kept[cell_index] = OUTPUT_LIMIT + 1
                if msg.get("msg_type") == "stream" and room > 0:  # keep the head of the text
                    msg["content"]["text"] = msg["content"].get("text", "")[:room]
                    super().output(outs, msg, display_id, cell_index)
                outs.append(self._labkit_note())
                return None
            kept[cell_index] = kept.get(cell_index, 0) + size
            return super().output(outs, msg, display_id, cell_index)

        @staticmethod
        def _labkit_note():
            import nbformat

            return nbformat.v4.new_output("stream", name="stderr",
                                          text=f"[labkit grade: output beyond {OUTPUT_LIMIT // 1024} KB not kept]\n")

    return CappedClient


def kernel_env(profile: str) -> dict[str, str]:
    """The environment of a kernel run without a sandbox: the chosen profile, offline, the network guard on."""
    from labkit import config

    env = config.offline_env(profile)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


class KernelLog:
    """A pipe for the kernel's stdout/stderr; a thread keeps the first :data:`KERNEL_LOG_LIMIT` bytes in a file."""

    def __init__(self, path: Path | None):
        self._read, self.write_fd = os.pipe()
        self._path, self._head = path, bytearray()
        self._thread = threading.Thread(target=self._drain, name="labkit-kernel-log", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        out = open(self._path, "wb") if self._path else None  # noqa: SIM115 - closed below
        kept = 0
        try:
            while chunk := os.read(self._read, 65536):
                if len(self._head) < 4096:
                    self._head += chunk[:4096 - len(self._head)]
                if out is not None and kept <= KERNEL_LOG_LIMIT:
                    out.write(chunk[:KERNEL_LOG_LIMIT - kept])
                    kept += len(chunk)
                    if kept > KERNEL_LOG_LIMIT:
                        out.write(f"\n[labkit grade: kernel output beyond {KERNEL_LOG_LIMIT // 2**20} MB not kept]\n"
                                  .encode())
                    out.flush()
        finally:
            if out is not None:
                out.close()
            os.close(self._read)

    def close_writer(self) -> None:
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def wait_head(self, timeout: float) -> str:
        """The first few KB of the log, once the writers are gone (or after ``timeout`` seconds)."""
        self._thread.join(timeout)
        return bytes(self._head).decode("utf-8", "replace")

    def close(self, timeout: float) -> None:
        self.close_writer()
        self._thread.join(timeout)


def _wait(result):
    """The value of a kernel manager call, whether the manager is synchronous or asynchronous."""
    import inspect

    from jupyter_core.utils import run_sync

    if not inspect.isawaitable(result):
        return result

    async def wait():
        return await result

    return run_sync(wait)()


def _responsive(client, grace: float) -> bool:
    """After an interrupt: does the kernel answer a no-op within ``grace`` seconds?"""
    from queue import Empty

    from jupyter_core.utils import run_sync

    async def probe():
        msg_id = client.kc.execute("", store_history=False, silent=True)
        deadline = time.monotonic() + grace
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await client.kc.shell_channel.get_msg(timeout=left)
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False

    try:
        return bool(run_sync(probe)())
    except Exception:  # noqa: BLE001 - a kernel that cannot even be probed is not responsive
        return False


def error_limit(ename: str, evalue: str) -> str:
    """The sandbox limit an exception in a cell points to ("" when none): memory, processes or disk."""
    text = evalue or ""
    if ename in ("MemoryError", "_ArrayMemoryError", "OutOfMemoryError") or any(
            s in text for s in ("Cannot allocate memory", "can't allocate memory", "std::bad_alloc")):
        return "memory"
    if "[Errno 28]" in text or "[Errno 27]" in text or "No space left on device" in text or "File too large" in text:
        return "disk"
    if ename == "BlockingIOError" or "[Errno 11]" in text or "can't start new thread" in text:
        return "processes"
    return ""


def _limit_of(client, settings: RunSettings) -> str:
    """The limit that stopped a sandbox whose kernel died ("" when none did, or with no sandbox)."""
    if settings.sandbox is None or client.km is None or not hasattr(client.km, "exit_code"):
        return ""
    deadline = time.monotonic() + 5
    code = client.km.exit_code()
    while code is None and time.monotonic() < deadline:
        time.sleep(0.05)
        code = client.km.exit_code()
    return sandbox.LIMIT_EXITS.get(code, "")


def execute_plan(plan: GradingPlan, settings: RunSettings, log_path: Path | None = None) -> list[Outcome]:
    """Run a plan's cells one by one in a fresh kernel (in a new sandbox); every cell gets an :class:`Outcome`."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = plan.nb
    outcomes: list[Outcome | None] = [None] * len(nb.cells)
    replies: dict[int, dict] = {}
    host_dir = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    log = KernelLog(log_path)
    options = dict(timeout=settings.cell_timeout, allow_errors=True, interrupt_on_timeout=False,
                   record_timing=False, startup_timeout=120, resources={"metadata": {"path": str(host_dir)}})
    km = None
    if settings.sandbox is not None:
        km = sandbox.kernel_manager(settings.sandbox, settings.kernel_name, host_dir,
                                    settings.notebook_timeout + sandbox.WALL_GRACE_S, log)
        client = _client_class()(nb, km=km, **options)
        setup = {"cleanup_kc": True, "stdout": log.write_fd, "stderr": log.write_fd}
    else:
        client = _client_class()(nb, kernel_name=settings.kernel_name, **options)
        setup = {"env": kernel_env(settings.profile), "stdout": log.write_fd, "stderr": log.write_fd}
    client.on_cell_executed = lambda cell, cell_index, execute_reply: replies.__setitem__(cell_index, execute_reply)
    start, stop = time.monotonic(), None
    cell_timeout, notebook_timeout = settings.cell_timeout, settings.notebook_timeout
    try:
        with client.setup_kernel(**setup):
            log.close_writer()
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    outcomes[i] = Outcome("ok")
                    continue
                left = notebook_timeout - (time.monotonic() - start)
                if stop is None and left < 1:
                    stop = f"the notebook's time limit ({notebook_timeout} s) ran out"
                if stop is not None:
                    outcomes[i] = Outcome("skipped", reason=stop)
                    continue
                client.timeout = int(max(1, min(cell_timeout, left)))
                try:
                    client.execute_cell(cell, i, store_history=plan.roles[i]["kind"] != "grader")
                except CellTimeoutError:
                    by_notebook = left < cell_timeout
                    outcomes[i] = Outcome("timeout", reason=(
                        f"used up the rest of the notebook's time limit ({notebook_timeout} s)" if by_notebook
                        else f"ran longer than the per-cell limit ({cell_timeout} s)"))
                    _wait(client.km.interrupt_kernel())
                    if by_notebook:
                        stop = f"the notebook's time limit ({notebook_timeout} s) ran out in {plan.describe(i)}"
                    elif not _responsive(client, INTERRUPT_GRACE):
                        stop = f"{plan.describe(i)} ran past its time limit and did not stop when interrupted"
                    continue
                except DeadKernelError:
                    limit = _limit_of(client, settings)
                    outcomes[i] = Outcome("died", limit=limit)
                    if limit and limit != "wall":
                        stop = (f"the sandbox was stopped in {plan.describe(i)}, which went over the "
                                f"{settings.sandbox.limits.describe(limit)}")
                    elif limit == "wall":
                        stop = f"the notebook's time limit ran out in {plan.describe(i)}"
                    else:
                        stop = f"the kernel died in {plan.describe(i)}"
                    continue
                except Exception as err:  # noqa: BLE001 - any other failure of the client: stop this notebook
                    outcomes[i] = Outcome("died", reason=f"{type(err).__name__}: {err}")
                    stop = f"the grader lost the kernel in {plan.describe(i)}"
                    continue
                content = (replies.get(i) or {}).get("content", {})
                if content.get("status") == "error":
                    ename, evalue = content.get("ename", "") or "Error", content.get("evalue", "") or ""
                    limit = error_limit(ename, evalue) if settings.sandbox else ""
                    outcomes[i] = Outcome("error", ename, evalue, limit=limit)
                    if limit == "processes":  # forks refused: what is left running is no state to grade in
                        stop = (f"the sandbox was stopped in {plan.describe(i)}, which went over the "
                                f"{settings.sandbox.limits.describe(limit)}")
                elif content.get("status") == "aborted":
                    outcomes[i] = Outcome("error", "Aborted", "the kernel aborted this cell")
                else:
                    outcomes[i] = Outcome("ok")
    except Exception as err:  # noqa: BLE001 - the kernel did not start, or shutting it down failed
        reason = f"the kernel could not run: {type(err).__name__}: {err}"
        outcomes = [o or Outcome("skipped", reason=reason) for o in outcomes]
    finally:
        if km is not None:
            km.ensure_gone()
        log.close(timeout=10 if settings.sandbox is not None else 2)
        shutil.rmtree(host_dir, ignore_errors=True)
    return [o or Outcome("skipped", reason="not run") for o in outcomes]

"""A small sandbox for running model-written Python: the engine behind notebook 09 (PAL).

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
3. *A Python audit hook* (:pep:`578`), installed by a small bootstrap before the program runs and
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
# The bootstrap: runs in the child as `python -I -S -c _BOOTSTRAP ...`, sets the last limits,
# installs the audit hook, runs the program and reports on a private pipe.
# Every helper the hook uses takes its tools as positional default arguments (immutable tuples),
# so that patching `os`, `builtins` or module globals from the user's code changes nothing.
# --------------------------------------------------------------------------------------------
_BOOTSTRAP = r'''
import builtins, errno, gc, json, os, posix, resource, signal, stat, sys, types


def _main():
    workdir, program, report_fd, answer_var, memory_mb, file_mb, cpu_s = sys.argv[1:8]
    report_fd = int(report_fd)
    _dumps, _write, _exit, _memoryview = json.dumps, os.write, os._exit, memoryview
    oom = _dumps({"ok": False, "answer": None,
                  "error": "MemoryError: the program exceeded the %s MB memory limit" % memory_mb}).encode()

    def send(payload):
        try:
            data = _dumps(payload).encode("ascii")
        except BaseException:
            data = oom
        view = _memoryview(data)
        try:
            while view:
                view = view[_write(report_fd, view):]
        except BaseException:
            pass

    # -- last OS limits (after `unshare --fork`, which needed a fork) --------------------------
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    except (ValueError, OSError):
        pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write raises OSError(EFBIG) instead

    class CPUTimeExceeded(BaseException):
        pass

    def on_cpu_limit(signum, frame):
        raise CPUTimeExceeded()

    signal.signal(signal.SIGXCPU, on_cpu_limit)

    with open(program, encoding="utf-8", errors="surrogatepass") as handle:
        source = handle.read()

    # -- what the program may touch ------------------------------------------------------------
    real = os.path.realpath
    work = real(workdir)
    roots = set()
    for place in list(sys.path) + [os.path.dirname(os.__file__), "/usr/share/zoneinfo",
                                   "/usr/lib/zoneinfo", "/usr/share/lib/zoneinfo"]:
        if place and os.path.isdir(place) and real(place) != "/":
            roots.add(real(place))
    read_roots = frozenset(roots)
    read_prefixes = tuple(sorted(r + "/" for r in roots))
    install_hook(work, read_roots, read_prefixes)

    # -- run ------------------------------------------------------------------------------------
    main = types.ModuleType("__main__")
    namespace = main.__dict__
    namespace.update(__builtins__=builtins, __file__=program)
    sys.modules["__main__"] = main
    sys.argv = [program]
    _type, _str, _repr, _len, _isinstance = type, str, repr, len, isinstance
    streams = (sys.stdout, sys.stderr)

    def flush():
        for stream in streams + (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass

    def program_line(exc):
        line, tb = None, exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == program:
                line = tb.tb_lineno
            tb = tb.tb_next
        return line

    def describe(exc, line):
        name = _type(exc).__name__
        if _isinstance(exc, MemoryError):
            text = "MemoryError: the program exceeded the %s MB memory limit" % memory_mb
        elif _isinstance(exc, CPUTimeExceeded):
            text = "TimeoutError: the program used more than %s s of CPU time" % cpu_s
        elif _isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            text = "OSError: the program wrote a file larger than the %s MB limit" % file_mb
        elif _isinstance(exc, SyntaxError):
            text = "%s: %s" % (name, exc.msg)
            line = exc.lineno if exc.filename == program else line
        else:
            try:
                message = _str(exc)
            except BaseException:
                message = "<unprintable message>"
            if _len(message) > 300:
                message = message[:300] + "..."
            text = "%s: %s" % (name, message) if message else name
        return text + (" (line %d)" % line if line else "")

    error = None
    try:
        code = compile(source, program, "exec", dont_inherit=True)
        exec(code, namespace)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = "SystemExit: the program exited with status %r" % (exc.code,)
    except BaseException as exc:
        line = program_line(exc)
        exc.__traceback__ = None
        if _isinstance(exc, MemoryError):
            namespace.clear()
            gc.collect()
        try:
            error = describe(exc, line)
        except BaseException:
            error = "%s (line %s)" % (_type(exc).__name__, line)
        del exc
    flush()

    answer = None
    try:
        if error is None and answer_var:
            if answer_var not in namespace:
                error = "NameError: the program did not set `%s`" % answer_var
            else:
                answer = _repr(namespace[answer_var])
                if _len(answer) > %(answer_cap)d:
                    error = "ValueError: `%s` is too large to report (%d characters)" % (answer_var, _len(answer))
                    answer = None
    except BaseException as exc:
        error = "%s: could not read `%s`: %s" % (_type(exc).__name__, answer_var, exc)
        answer = None
    send({"ok": error is None, "error": error, "answer": answer})
    flush()
    _exit(0)


def install_hook(work, read_roots, read_prefixes):
    # No helper below has a closure: everything it needs is a positional default (an immutable
    # tuple), so the program cannot rewire the guard through function cells or module globals.
    work_prefix = work + "/"
    dev_read = frozenset({"/dev/null", "/dev/urandom", "/dev/random"})
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def denied(reason, _PermissionError=PermissionError):
        return _PermissionError("blocked by the sandbox: " + reason)

    def as_text(path, _type=type, _str=str, _bytes=bytes, _isinstance=isinstance,
                _str_copy=str.__str__, _decode=bytes.decode):
        if _type(path) is _str:
            return path
        if _isinstance(path, _str):
            return _str_copy(path)
        if _isinstance(path, _bytes):
            return _decode(path, "utf-8", "surrogateescape")
        return None

    def fd_path(fd, _readlink=posix.readlink, _OSError=OSError, _str=str):
        try:
            target = _readlink("/proc/self/fd/" + _str(fd))
        except _OSError:
            return None
        return target if target.startswith("/") else None

    def resolve(path, follow, base, _lstat=posix.lstat, _readlink=posix.readlink,
                _getcwd=posix.getcwd, _islnk=stat.S_ISLNK, _OSError=OSError):
        # Absolute, symlink-free form of `path` (relative to `base` or the cwd); None if looping.
        if not path.startswith("/"):
            path = (base if base is not None else _getcwd()) + "/" + path
        todo = path.split("/")
        todo.reverse()
        done, hops = "", 0
        while todo:
            part = todo.pop()
            if part == "" or part == ".":
                continue
            if part == "..":
                done = done[:done.rfind("/")] if done else ""
                continue
            step = done + "/" + part
            if not todo and not follow:
                done = step
                break
            try:
                mode = _lstat(step).st_mode
            except _OSError:
                done = step
                continue
            if _islnk(mode):
                hops += 1
                if hops > 40:
                    return None
                target = _readlink(step)
                if target.startswith("/"):
                    done = ""
                more = target.split("/")
                more.reverse()
                todo.extend(more)
                continue
            done = step
        return done or "/"

    def target_of(path, dir_fd, follow, _int=int, _type=type, fd_path=fd_path, as_text=as_text,
                  resolve=resolve):
        # Resolved path of an event argument, or None when it cannot be vetted.
        if _type(path) is _int:
            return fd_path(path)
        text = as_text(path)
        if text is None:
            return None
        base = None
        if dir_fd is not None and dir_fd != -1:
            if _type(dir_fd) is not _int:
                return None
            base = fd_path(dir_fd)
            if base is None:
                return None
        return resolve(text, follow, base)

    def in_work(resolved, work=work, work_prefix=work_prefix):
        return resolved is not None and (resolved == work or resolved.startswith(work_prefix))

    def check_write(path, dir_fd, follow, what, target_of=target_of, in_work=in_work, denied=denied):
        resolved = target_of(path, dir_fd, follow)
        if not in_work(resolved) and resolved != "/dev/null":
            raise denied(what + " outside the sandbox folder is not allowed: %r" % (path,))

    def check_read(path, dir_fd, what, target_of=target_of, in_work=in_work, denied=denied,
                   read_roots=read_roots, read_prefixes=read_prefixes):
        resolved = target_of(path, dir_fd, True)
        if in_work(resolved) or resolved in read_roots or (
                resolved is not None and resolved.startswith(read_prefixes)):
            return
        raise denied(what + " outside the sandbox is not allowed: %r" % (path,))

    def check_open(path, mode, flags, target_of=target_of, in_work=in_work, denied=denied,
                   read_prefixes=read_prefixes, dev_read=dev_read, write_flags=write_flags,
                   _int=int, _type=type, _str=str, _bool=bool, _stat=posix.stat,
                   _isdir=stat.S_ISDIR, _OSError=OSError):
        if _type(path) is _int:  # an already open file descriptor
            return
        writing = _bool(flags & write_flags) or (_type(mode) is _str and (
            "w" in mode or "a" in mode or "x" in mode or "+" in mode))
        resolved = target_of(path, None, True)
        if writing:
            if in_work(resolved) or resolved == "/dev/null":
                return
            raise denied("writing files outside the sandbox folder is not allowed: %r" % (path,))
        if in_work(resolved) or resolved in dev_read:
            return
        if resolved is not None and resolved.startswith(read_prefixes):
            try:
                is_dir = _isdir(_stat(resolved).st_mode)
            except _OSError:
                is_dir = False
            if not is_dir:  # folders outside could serve as dir_fd escapes
                return
        raise denied("opening files outside the sandbox is not allowed: %r" % (path,))

    processes = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.fork", "os.forkpty",
                           "os.posix_spawn", "os.spawn", "os.startfile", "pty.spawn"})
    signals = frozenset({"os.kill", "os.killpg", "signal.pthread_kill"})
    guards = frozenset({"sys.settrace", "sys.setprofile", "sys.addaudithook", "gc.get_objects",
                        "gc.get_referrers", "gc.get_referents", "resource.setrlimit", "resource.prlimit"})
    frozen_attrs = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
    process_modules = frozenset({"subprocess", "_posixsubprocess", "multiprocessing", "_multiprocessing"})
    native_modules = frozenset({"ctypes", "_ctypes", "_xxsubinterpreters", "_xxinterpchannels",
                                "_testcapi", "_testinternalcapi", "_testmultiphase", "_testbuffer",
                                "_testimportmultiple", "_testsinglephase", "posix", "_signal", "_thread"})
    listing = frozenset({"os.listdir", "os.scandir", "os.listxattr", "os.getxattr"})
    by_name = frozenset({"os.chmod", "os.chown", "os.utime", "os.setxattr", "os.removexattr",
                         "os.chflags"})
    with_dir_fd = frozenset({"os.chmod", "os.chown", "os.utime"})

    import _imp
    loaded_builtins = frozenset(name for name in sys.builtin_module_names if name in sys.modules)

    def create_builtin(spec, _original=_imp.create_builtin, _blocked=loaded_builtins | native_modules,
                       _getattr=getattr, as_text=as_text, _namespace=types.SimpleNamespace, denied=denied):
        # A fresh copy of an already loaded built-in module would bring back what is disabled below.
        name = as_text(_getattr(spec, "name", None))
        if name is None or name in _blocked:
            raise denied("re-creating the built-in module %r is not allowed" % (name,))
        return _original(_namespace(name=name))

    guarded = (denied, as_text, fd_path, resolve, target_of, in_work, check_write, check_read, check_open,
               create_builtin)

    def hook(event, args, denied=denied, check_open=check_open, check_read=check_read,
             check_write=check_write, as_text=as_text, target_of=target_of, in_work=in_work,
             processes=processes, signals=signals, guards=guards, frozen_attrs=frozen_attrs,
             process_modules=process_modules, native_modules=native_modules, listing=listing,
             by_name=by_name, with_dir_fd=with_dir_fd, guarded=guarded, _int=int, _type=type, _len=len):
        if event == "open":
            check_open(args[0], args[1], args[2])
        elif event == "import":
            name = as_text(args[0]) or ""
            top = name.partition(".")[0]
            if top in process_modules:
                raise denied("starting other processes is not allowed (import %s)" % name)
            if top in native_modules:
                raise denied("loading C code or low-level modules is not allowed (import %s)" % name)
        elif event.startswith("socket."):
            raise denied("network access is not allowed (%s)" % event)
        elif event in processes:
            raise denied("starting other processes is not allowed (%s)" % event)
        elif event.startswith("ctypes."):
            raise denied("loading C code is not allowed (%s)" % event)
        elif event in listing:
            check_read("." if args[0] is None else args[0], None, "listing folders")
        elif event == "os.chdir":
            if not in_work(target_of(args[0], None, True)):
                raise denied("leaving the sandbox folder is not allowed: %r" % (args[0],))
        elif event == "os.remove" or event == "os.rmdir":
            check_write(args[0], args[1], False, "deleting files")
        elif event == "os.mkdir":
            check_write(args[0], args[2], False, "creating folders")
        elif event == "os.rename":
            check_write(args[0], args[2], False, "renaming files")
            check_write(args[1], args[3], False, "renaming files")
        elif event == "os.link":
            check_write(args[0], args[2], True, "linking files")
            check_write(args[0], args[2], False, "linking files")
            check_write(args[1], args[3], False, "linking files")
        elif event == "os.symlink":
            check_write(args[1], args[2], False, "creating links")
        elif event in by_name:
            check_write(args[0], args[-1] if event in with_dir_fd else None, True, "changing files")
        elif event == "os.truncate":
            if _type(args[0]) is not _int:  # ftruncate needs a descriptor open for writing anyway
                check_write(args[0], None, True, "changing files")
        elif event == "os.fwalk" or event == "glob.glob/2":
            if args[-1] is not None and args[-1] != -1:
                check_read(args[-1], None, "listing folders")
        elif event in signals:
            raise denied("sending signals is not allowed (%s)" % event)
        elif event == "_thread.start_new_thread":
            raise denied("starting threads is not allowed")
        elif event in guards:
            raise denied("changing the sandbox's guards is not allowed (%s)" % event)
        elif event == "object.__setattr__" or event == "object.__delattr__" or event == "object.__getattr__":
            if _len(args) > 1 and as_text(args[1]) in frozen_attrs:
                for function in guarded:
                    if args[0] is function:
                        raise denied("inspecting or changing the sandbox's guards is not allowed")

    sys.addaudithook(hook)

    # What CPython does not audit, or audits too late to stop races (threads, signal handlers that
    # run in the middle of a check): replace with functions that refuse.
    def refuse(what):
        def refused(*args, **kwargs):
            raise PermissionError("blocked by the sandbox: " + what)
        return refused

    threads = refuse("starting threads is not allowed")
    signals_ = refuse("installing signal handlers or sending signals is not allowed")
    for module, names, replacement in (
            (sys.modules["_thread"], ("start_new_thread", "start_new"), threads),
            (sys.modules["_signal"], ("signal", "setitimer", "alarm", "pthread_kill", "pidfd_send_signal",
                                      "raise_signal"), signals_),
            (sys.modules["signal"], ("signal", "setitimer", "alarm", "pthread_kill", "pidfd_send_signal",
                                     "raise_signal"), signals_),
            (os, ("pidfd_open",), signals_), (posix, ("pidfd_open",), signals_)):
        for name in names:
            if name in module.__dict__:
                module.__dict__[name] = replacement
    for name in ("mkfifo", "mknod", "chroot", "setpriority", "sched_setscheduler", "sched_setparam",
                 "sched_setaffinity"):
        replacement = refuse("os.%s is not allowed" % name)
        for module in (os, posix):
            if name in module.__dict__:
                module.__dict__[name] = replacement
    _imp.create_builtin = create_builtin


_main()
'''.replace("%(answer_cap)d", str(_ANSWER_CAP))


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
    argv = [*_namespace_prefix(), sys.executable, "-I", "-S", "-B", "-u", "-X", "utf8", "-c", _BOOTSTRAP,
            workdir, program, str(report_w), answer_var or "", str(memory_mb), str(FILE_LIMIT_MB), str(cpu_s)]
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

"""The sandbox's child program: what :func:`labkit.sandbox.run_python` runs in the separate process.

The parent (``labkit/sandbox.py``) starts a fresh interpreter on this file by path::

    python -I -S -B -u -X utf8 labkit/sandbox_child.py \
        WORKDIR PROGRAM REPORT_FD ANSWER_VAR MEMORY_MB FILE_MB CPU_S ANSWER_CAP

after setting the process limits, emptying the environment and (where the machine allows it) moving
into new network and PID namespaces. This file then sets the last limits, installs the audit hook
(:pep:`578`) that vets files, folders, sockets, processes, signals and low-level modules, runs
PROGRAM as a fresh ``__main__`` module, and writes one JSON line ``{"ok", "error", "answer"}`` to the
private pipe REPORT_FD. ``answer`` is the ``repr`` of the variable ANSWER_VAR (empty: none asked
for), refused when longer than ANSWER_CAP characters.

Under ``-I -S`` neither labkit nor site-packages can be imported, so this module uses the standard
library only (tests/test_sandbox.py checks that statically). It is not meant to be imported.

Every helper the hook uses takes its tools as positional default arguments (immutable tuples), so
patching ``os``, ``builtins`` or module globals from the user's code changes nothing; no helper
has a closure (tests/test_sandbox.py checks that too).
"""

import builtins
import errno
import gc
import json
import os
import posix
import resource
import signal
import stat
import sys
import types

USAGE = "usage: sandbox_child.py WORKDIR PROGRAM REPORT_FD ANSWER_VAR MEMORY_MB FILE_MB CPU_S ANSWER_CAP"


def _main():
    if len(sys.argv) != 9:
        sys.exit(USAGE)
    workdir, program, report_fd, answer_var, memory_mb, file_mb, cpu_s, answer_cap = sys.argv[1:9]
    report_fd, answer_cap = int(report_fd), int(answer_cap)
    _dumps, _write, _exit, _memoryview = json.dumps, os.write, os._exit, memoryview
    oom = _dumps({"ok": False, "answer": None,
                  "error": f"MemoryError: the program exceeded the {memory_mb} MB memory limit"}).encode()

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
            text = f"MemoryError: the program exceeded the {memory_mb} MB memory limit"
        elif _isinstance(exc, CPUTimeExceeded):
            text = f"TimeoutError: the program used more than {cpu_s} s of CPU time"
        elif _isinstance(exc, OSError) and exc.errno == errno.EFBIG:
            text = f"OSError: the program wrote a file larger than the {file_mb} MB limit"
        elif _isinstance(exc, SyntaxError):
            text = f"{name}: {exc.msg}"
            line = exc.lineno if exc.filename == program else line
        else:
            try:
                message = _str(exc)
            except BaseException:
                message = "<unprintable message>"
            if _len(message) > 300:
                message = message[:300] + "..."
            text = f"{name}: {message}" if message else name
        return text + (f" (line {line:d})" if line else "")

    error = None
    try:
        code = compile(source, program, "exec", dont_inherit=True)
        exec(code, namespace)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = f"SystemExit: the program exited with status {exc.code!r}"
    except BaseException as exc:
        line = program_line(exc)
        exc.__traceback__ = None
        if _isinstance(exc, MemoryError):
            namespace.clear()
            gc.collect()
        try:
            error = describe(exc, line)
        except BaseException:
            error = f"{_type(exc).__name__} (line {line})"
        del exc
    flush()

    answer = None
    try:
        if error is None and answer_var:
            if answer_var not in namespace:
                error = f"NameError: the program did not set `{answer_var}`"
            else:
                answer = _repr(namespace[answer_var])
                if _len(answer) > answer_cap:
                    error = f"ValueError: `{answer_var}` is too large to report ({_len(answer):d} characters)"
                    answer = None
    except BaseException as exc:
        error = f"{_type(exc).__name__}: could not read `{answer_var}`: {exc}"
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
            raise denied(what + f" outside the sandbox folder is not allowed: {path!r}")

    def check_read(path, dir_fd, what, target_of=target_of, in_work=in_work, denied=denied,
                   read_roots=read_roots, read_prefixes=read_prefixes):
        resolved = target_of(path, dir_fd, True)
        if in_work(resolved) or resolved in read_roots or (
                resolved is not None and resolved.startswith(read_prefixes)):
            return
        raise denied(what + f" outside the sandbox is not allowed: {path!r}")

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
            raise denied(f"writing files outside the sandbox folder is not allowed: {path!r}")
        if in_work(resolved) or resolved in dev_read:
            return
        if resolved is not None and resolved.startswith(read_prefixes):
            try:
                is_dir = _isdir(_stat(resolved).st_mode)
            except _OSError:
                is_dir = False
            if not is_dir:  # folders outside could serve as dir_fd escapes
                return
        raise denied(f"opening files outside the sandbox is not allowed: {path!r}")

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
            raise denied(f"re-creating the built-in module {name!r} is not allowed")
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
                raise denied(f"starting other processes is not allowed (import {name})")
            if top in native_modules:
                raise denied(f"loading C code or low-level modules is not allowed (import {name})")
        elif event.startswith("socket."):
            raise denied(f"network access is not allowed ({event})")
        elif event in processes:
            raise denied(f"starting other processes is not allowed ({event})")
        elif event.startswith("ctypes."):
            raise denied(f"loading C code is not allowed ({event})")
        elif event in listing:
            check_read("." if args[0] is None else args[0], None, "listing folders")
        elif event == "os.chdir":
            if not in_work(target_of(args[0], None, True)):
                raise denied(f"leaving the sandbox folder is not allowed: {args[0]!r}")
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
            raise denied(f"sending signals is not allowed ({event})")
        elif event == "_thread.start_new_thread":
            raise denied("starting threads is not allowed")
        elif event in guards:
            raise denied(f"changing the sandbox's guards is not allowed ({event})")
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
        replacement = refuse(f"os.{name} is not allowed")
        for module in (os, posix):
            if name in module.__dict__:
                module.__dict__[name] = replacement
    _imp.create_builtin = create_builtin


if __name__ == "__main__":
    _main()

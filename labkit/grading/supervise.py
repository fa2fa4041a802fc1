"""The first process of a grading sandbox: PID 1 of its PID namespace, it starts the kernel and watches it.

:mod:`labkit.grading.sandbox` runs it inside bubblewrap, by path, with the standard library only::

    python -I -S labkit/grading/supervise.py --memory-mb M --processes N --nproc P --file-mb F --wall-s S \
        [--learner-uid U --learner-gid G] --cache-from DIR --cache-to DIR -- python -m ipykernel_launcher -f ...

It

1. makes itself non-dumpable (no process of the sandbox may open its files through ``/proc/1``); as PID 1 of the
   namespace it ignores every signal sent from inside, ``SIGKILL`` included, and when it exits the kernel stops
   every other process of the namespace;
2. lays out the model cache: a writable folder of links to the instructor's read-only cache, so an artifact a
   notebook builds lands in the sandbox (and dies with it) while the ones already built are read in place;
3. starts the kernel in a session of its own, with ``RLIMIT_DATA`` (memory), ``RLIMIT_NPROC`` (processes and
   threads, counted per user namespace), ``RLIMIT_FSIZE`` (file size) and no core files; when the sandbox starts
   as root in its user namespace (a grader run by root), the kernel is switched to the learner's user first,
   keeping only ``CAP_DAC_READ_SEARCH`` (to read the model cache root made private) - for root the kernel would
   not enforce ``RLIMIT_NPROC``;
4. every :data:`POLL_S` seconds reaps orphans and counts the namespace's tasks and memory: more tasks than the
   process limit, more memory than the memory limit (anonymous and shared memory of all processes, pages that
   forked processes share counted once), or a wall time past the limit stops everything;
5. when the kernel exits, kills whatever it left running (a detached process, a daemon) and exits.

Exit status (bubblewrap passes it on to the grader): 0 the kernel exited cleanly, 1 it exited otherwise,
:data:`EXIT_MEMORY`, :data:`EXIT_PROCESSES` or :data:`EXIT_WALL` when a limit stopped the sandbox. Why it stopped
goes to standard error (the kernel's log).
"""

import os
import resource
import signal
import sys
import time

EXIT_MEMORY, EXIT_PROCESSES, EXIT_WALL = 101, 102, 103
POLL_S = 0.05
_PR_SET_KEEPCAPS, _PR_SET_NO_NEW_PRIVS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE = 8, 38, 47, 2
_CAP_DAC_READ_SEARCH, _CAPABILITY_VERSION_3 = 2, 0x20080522
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _say(message):
    try:
        os.write(2, f"labkit sandbox: {message}\n".encode())
    except OSError:
        pass


def _non_dumpable():
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        _say("could not make the supervisor non-dumpable")


def _parse(argv):
    if "--" not in argv:
        raise SystemExit("usage: supervise.py --memory-mb M --processes N --file-mb F --wall-s S "
                         "[--cache-from DIR --cache-to DIR] -- COMMAND ...")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    settings = {"cache-from": "", "cache-to": ""}
    for key, value in zip(options[::2], options[1::2], strict=False):
        settings[key.lstrip("-")] = value
    return settings, command


def _cache_layer(source, target):
    """``target`` (writable) gets one link per finished artifact of ``source`` (read-only)."""
    if not target:
        return
    os.makedirs(target, exist_ok=True)
    os.chmod(target, 0o1777)  # the kernel may run as another user (the learner's): it builds and locks here
    if not source or not os.path.isdir(source):
        return
    for name in sorted(os.listdir(source)):
        if name.startswith(".") or name.endswith(".lock"):
            continue  # unfinished builds; lock files must be writable, labkit makes its own in the target
        try:
            os.symlink(os.path.join(source, name), os.path.join(target, name))
        except OSError:
            pass


def _become_learner(uid, gid):
    """Switch to the learner's user, keeping only CAP_DAC_READ_SEARCH (to read the bound folders root owns)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def check(result, what):
        if result != 0:
            raise OSError(ctypes.get_errno(), f"{what} failed")

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    check(libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0), "prctl(PR_SET_KEEPCAPS)")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    keep = 1 << _CAP_DAC_READ_SEARCH
    data = (Data * 2)(Data(keep, keep, keep), Data(0, 0, 0))
    check(libc.capset(ctypes.byref(Header(_CAPABILITY_VERSION_3, 0)), data), "capset")
    check(libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_RAISE, _CAP_DAC_READ_SEARCH, 0, 0), "prctl(PR_CAP_AMBIENT)")
    check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def _start(command, limits, learner):
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setsid()
        memory, nproc, file_size = limits
        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if learner is not None and os.getuid() == 0:
            _become_learner(*learner)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(number, signal.SIG_DFL)
        os.execvp(command[0], command)
    except BaseException as err:  # noqa: BLE001 - in the child: report and leave
        _say(f"could not start {command[0]}: {type(err).__name__}: {err}")
    os._exit(127)


def _usage():
    """(processes, tasks, resident bytes, pids) of every process in the namespace but this one.

    Resident bytes add up each process's anonymous and shared memory, so pages that forked processes still
    share are counted once per process: an upper bound (:func:`_proportional` is exact, and slower)."""
    processes = tasks = resident = 0
    me = str(os.getpid())
    try:
        names = [name for name in os.listdir("/proc") if name.isdigit() and name != me]
    except OSError:
        return 0, 0, 0, []
    for name in names:
        processes += 1
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                for line in handle:
                    if line.startswith(b"Threads:"):
                        tasks += int(line.split()[1])
                    elif line.startswith((b"RssAnon:", b"RssShmem:")):
                        resident += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue  # it exited meanwhile
    return processes, tasks, resident, names


def _proportional(pids):
    """The namespace's memory with shared pages split between the processes sharing them (smaps_rollup)."""
    total = 0
    for name in pids:
        fields = {}
        try:
            with open(f"/proc/{name}/smaps_rollup", "rb") as handle:
                for line in handle:
                    key, _, rest = line.partition(b":")
                    if key in (b"Pss", b"Pss_Anon", b"Pss_Shmem", b"Pss_File"):
                        fields[key] = int(rest.split()[0]) * 1024
        except (OSError, ValueError, IndexError):
            continue
        if b"Pss_Anon" in fields:
            total += fields[b"Pss_Anon"] + fields.get(b"Pss_Shmem", 0)
        else:
            total += fields.get(b"Pss", 0) - fields.get(b"Pss_File", 0)
    return total


def _stop_all():
    """Kill every other process of the namespace and reap them all."""
    try:
        os.kill(-1, signal.SIGKILL)  # from PID 1: every process of this namespace but itself
    except OSError:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if pid == 0:
            return


def _report(what, started):
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    _say(f"the kernel {what} after {time.monotonic() - started:.1f} s, {used.ru_utime + used.ru_stime:.1f} s of CPU")


def main(argv):
    settings, command = _parse(argv)
    _non_dumpable()
    started = time.monotonic()

    def terminate(*_):  # from the grader, when the kernel does not exit on its own
        _stop_all()
        _report("was stopped by the grader", started)
        os._exit(1)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    memory = int(settings["memory-mb"]) * 2**20
    processes = int(settings["processes"])
    nproc = int(settings.get("nproc") or processes + 1)
    learner = (int(settings["learner-uid"]), int(settings["learner-gid"])) if settings.get("learner-uid") else None
    file_size = int(settings["file-mb"]) * 2**20
    deadline = started + float(settings["wall-s"])
    _cache_layer(settings["cache-from"], settings["cache-to"])
    kernel = _start(command, (memory, nproc, file_size), learner)
    status = None
    while True:
        while True:  # reap: the kernel, and orphans re-parented to PID 1
            try:
                pid, code = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
            if pid == kernel:
                status = code
        if status is not None:
            _stop_all()
            _report(f"exited ({os.waitstatus_to_exitcode(status)})", started)
            return 0 if os.waitstatus_to_exitcode(status) == 0 else 1
        count, tasks, resident, pids = _usage()
        if count > processes or tasks > processes:
            _say(f"stopped: {max(count, tasks)} processes and threads, over the limit of {processes}")
            _stop_all()
            return EXIT_PROCESSES
        if resident > memory and (resident := _proportional(pids)) > memory:
            _say(f"stopped: {resident / 2**20:.0f} MB of memory in use, over the limit of {memory // 2**20} MB")
            _stop_all()
            return EXIT_MEMORY
        if time.monotonic() > deadline:
            _say(f"stopped: ran past the wall-time limit of {float(settings['wall-s']):.0f} s")
            _stop_all()
            return EXIT_WALL
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

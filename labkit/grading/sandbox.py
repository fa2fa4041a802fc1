"""The grading sandbox: each learner's notebook runs in a bubblewrap container of its own (Linux).

One sandbox per learner x notebook. The kernel and everything it starts run in their own user, PID, mount,
network, IPC and UTS namespaces (`bubblewrap <https://github.com/containers/bubblewrap>`_, Debian package
``bubblewrap``; it needs no privileges where user namespaces are enabled) and see

* read-only: the system's ``/usr`` (and the ``/lib*``, ``/bin`` links), a few files of ``/etc`` (the dynamic
  linker's cache, time zone, alternatives), the Python environment (``sys.prefix``, ``sys.base_prefix``, the
  kernel's interpreter), the labkit package, ``data/``, ``configs/`` and ``pyproject.toml``, the model caches
  (labkit's and the Hugging Face hub's);
* read-write: ``/sandbox``, a fresh tmpfs capped at the disk limit: ``work/`` (the working folder, empty at the
  start), ``home/``, ``tmp/`` (also ``/tmp``), ``ipc/`` (the kernel's sockets) and ``cache/`` (links to the
  read-only cache, where a notebook that builds a missing artifact puts it); ``/dev/shm``, a small capped tmpfs;
* nothing else: no other submission, no grades, no ``solutions/``, no hidden checks, no home folder.

There is no network inside (only the namespace's own loopback). The grader talks to the kernel over Unix
sockets that live in the sandbox's tmpfs and that it reaches through ``/proc/<pid>/root``, so nothing the
learner writes lands on the grader's disk. :mod:`labkit.grading.supervise` is PID 1 inside: it sets the limits
(memory, processes, file size), stops the sandbox when one is passed or the wall time runs out, and kills every
process left when the kernel exits. ``--die-with-parent`` ends the sandbox if the grader dies; ``--new-session``
keeps it off the grader's terminal; no capability is kept and no user namespace can be nested inside.

:func:`status` is the one-line report ``labkit doctor`` prints.
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit.grading import supervise

INSTALL = "apt-get install bubblewrap"
ROOT = "/sandbox"  # the only writable folder inside (a tmpfs capped at the disk limit)
WORK, HOME, TMP, IPC, CACHE = (f"{ROOT}/work", f"{ROOT}/home", f"{ROOT}/tmp", f"{ROOT}/ipc", f"{ROOT}/cache")
CONNECTION = f"{ROOT}/kernel.json"
HOSTNAME = "grading"
IPC_PREFIX = f"{IPC}/kernel"
#: bubblewrap options a sandbox needs (0.6 and later have them all).
NEEDED_OPTIONS = ("--size", "--info-fd", "--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop",
                  "--clearenv", "--remount-ro")
NAMESPACES = ("--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try")
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "os-release", "mime.types",
       "fonts")
SYSTEM_TOP = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: Environment variables passed into the sandbox as they are (everything else is cleared: no tokens, no keys).
PASS_THROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "LABKIT_SIZES", "PYTHONHASHSEED")
#: As root, the sandbox gets a user namespace made here (:func:`root_userns`): its root is the host's (so the
#: bound folders stay readable) and the kernel runs as LEARNER_UID, which is SANDBOX_KUID ("nobody") outside.
LEARNER_UID, SANDBOX_KUID = 1000, 65534
_USERNS_HOLDER = """
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:  # CLONE_NEWUSER
    sys.exit("unshare(CLONE_NEWUSER) failed: errno %d" % ctypes.get_errno())
print("ready", flush=True)
sys.stdin.readline()  # the grader writes the uid and gid maps meanwhile
fd = os.open("/proc/sys/user/max_user_namespaces", os.O_WRONLY)  # none nested inside the sandbox
os.write(fd, b"0")
os.close(fd)
print("ok", flush=True)
sys.stdin.read()
"""
LIMIT_EXITS = {supervise.EXIT_MEMORY: "memory", supervise.EXIT_PROCESSES: "processes", supervise.EXIT_WALL: "wall"}
WALL_GRACE_S = 120  # the supervisor's wall limit is the notebook's limit plus this (kernel start and shutdown)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing, too old, or cannot create namespaces on this machine."""


@dataclass(frozen=True)
class Limits:
    """What one sandbox may use. Memory counts every process's resident memory (and caps each process's data
    segment); processes count threads too; the disk limit caps the tmpfs holding everything the notebook writes."""

    memory_mb: int = 4096
    processes: int = 512
    disk_mb: int = 512
    shm_mb: int = 64

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"The sandbox's {name.replace('_', ' ')} must be a positive whole number, "
                                 f"not {value!r}.")

    def describe(self, limit: str) -> str:
        return {"memory": f"memory limit ({self.memory_mb} MB)",
                "processes": f"process limit ({self.processes} processes and threads)",
                "disk": f"output-size limit ({self.disk_mb} MB of files in all)",
                "wall": "wall-time limit"}.get(limit, f"{limit} limit")


# --------------------------------------------------------------------------------------------------
# Is it there, and does it work?
# --------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _probe() -> tuple[str, str, str, frozenset[str]]:
    """(path, version, problem, options): problem is empty when a sandbox can be made here."""
    if not sys.platform.startswith("linux"):
        return "", "", "MISSING - the grading sandbox needs Linux with bubblewrap (grade on a Linux machine or VM)", \
            frozenset()
    path = shutil.which("bwrap")
    if not path:
        return "", "", f"MISSING - install with: {INSTALL}", frozenset()
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
        helptext = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return path, "", f"{path} does not run ({type(err).__name__}: {err}); reinstall with: {INSTALL}", frozenset()
    version = version or "bubblewrap (unknown version)"
    options = frozenset(word for word in helptext.split() if word.startswith("--"))
    lacking = [o for o in NEEDED_OPTIONS if o not in options]
    if lacking:
        return path, version, (f"{version} at {path} is too old (no {', '.join(lacking)}): install bubblewrap 0.6 "
                               "or later"), options
    try:
        trial = subprocess.run([path, *NAMESPACES, "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
                                "--dev", "/dev", "--", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return path, version, f"{version} at {path} could not start ({type(err).__name__}: {err})", options
    if trial.returncode != 0:
        why = " ".join(trial.stderr.split())[:160] or f"exit status {trial.returncode}"
        return path, version, (f"{version} at {path}, but it cannot create namespaces here ({why}): enable "
                               "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; on Ubuntu "
                               "also kernel.apparmor_restrict_unprivileged_userns=0) or grade in a VM"), options
    if os.geteuid() == 0:
        try:
            fd, holder = root_userns()
            os.close(fd)
            holder.stdin.close()
            holder.wait(10)
        except (OSError, RuntimeError, subprocess.SubprocessError) as err:
            return path, version, (f"{version} at {path}, but a user namespace for the learner's user cannot be made "
                                   f"as root here ({type(err).__name__}: {err})"), options
    return path, version, "", options


def status() -> str:
    """One line for ``labkit doctor``: bubblewrap's version and place and whether it works, or how to install it."""
    path, version, problem, _ = _probe()
    if problem:
        return problem
    return f"{version} at {path}, user namespaces work"


def available() -> bool:
    return not _probe()[2]


def require() -> str:
    """The path of a working bwrap, or :class:`SandboxUnavailable` with one line saying what to do."""
    path, _, problem, _ = _probe()
    if problem:
        raise SandboxUnavailable(f"the grading sandbox is not available: {problem}. Grade where it is, or pass "
                                 "--unsafe-no-sandbox to grade without isolation (docs/grading.md says what that "
                                 "gives up).")
    return path


# --------------------------------------------------------------------------------------------------
# What a sandbox shows, and the command that makes one
# --------------------------------------------------------------------------------------------------
def _prefix_of(executable: str) -> list[str]:
    """The environment folders an interpreter needs: ``<prefix>`` of the path as given and of its real path."""
    found = []
    for path in (Path(executable), Path(os.path.realpath(executable))):
        if path.parent.name in ("bin", "Scripts"):
            found.append(str(path.parent.parent))
    return found


def _outermost(paths) -> list[str]:
    """Existing paths, each once, without those inside another one of them."""
    chosen: list[Path] = []
    for path in sorted({Path(os.path.abspath(p)) for p in paths if p and os.path.exists(p)},
                       key=lambda p: len(p.parts)):
        if not any(path == c or path.is_relative_to(c) for c in chosen):
            chosen.append(path)
    return [str(p) for p in chosen]


@dataclass(frozen=True)
class SandboxSpec:
    """What every sandbox of one grading run shows and limits (the same for every learner)."""

    bwrap: str
    limits: Limits
    binds: tuple[str, ...]  # host paths bound read-only at the same place
    cache: str  # labkit's model cache (bound read-only; /sandbox/cache links to its artifacts)
    env: dict = field(default_factory=dict)
    disable_userns: bool = True

    @classmethod
    def for_grading(cls, profile: str, limits: Limits, kernel_argv0: str | None = None,
                    private: dict[str, Path] | None = None) -> SandboxSpec:
        """The spec for grading in ``profile``; ``private`` folders (submissions, grades, solutions, hidden
        checks) must not be inside anything the sandbox shows, nor hold any of it."""
        import labkit
        from labkit import config

        path = require()
        options = _probe()[3]
        repo = config.REPO_ROOT
        package = Path(labkit.__file__).resolve().parent
        cache = str(config.cache_dir().resolve())
        hub = _hub_cache()
        python = [sys.prefix, sys.base_prefix, *_prefix_of(sys.executable)]
        if kernel_argv0 and os.path.isabs(kernel_argv0):
            python += _prefix_of(kernel_argv0)
        shown = [str(package), str(config.data_dir()), str(repo / "configs"), str(repo / "pyproject.toml"),
                 *python, cache, *([hub] if hub else [])]
        binds = tuple(p for p in _outermost(shown) if not any(p == f"/{top}" or p.startswith(f"/{top}/")
                                                             for top in SYSTEM_TOP))
        for label, folder in (private or {}).items():
            folder = Path(os.path.abspath(folder))
            for bound in [*binds, "/usr"]:
                if folder == Path(bound) or folder.is_relative_to(bound) or Path(bound).is_relative_to(folder):
                    raise ValueError(f"The {label} folder {folder} overlaps {bound}, which every learner's sandbox "
                                     f"shows: move the {label} elsewhere.")
        env = {key: os.environ[key] for key in PASS_THROUGH if key in os.environ}
        env.update(PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
                   HOME=HOME, TMPDIR="/tmp", USER="learner", LOGNAME="learner", PYDEVD_DISABLE_FILE_VALIDATION="1",
                   JPY_PARENT_PID="1")  # the supervisor: ipykernel neither polls it nor warns about Ctrl-C
        env.setdefault("LANG", "C.UTF-8")
        env = config.offline_env(profile, base=env)
        env["LABKIT_CACHE"] = CACHE
        env["LABKIT_DATA"] = str(config.data_dir())
        env["MPLCONFIGDIR"] = f"{TMP}/matplotlib"
        if hub:
            env["HF_HUB_CACHE"] = hub
        return cls(path, limits, binds, cache, env, "--disable-userns" in options)

    def command(self, kernel_argv: list[str], connection_file: str, info_fd: int, wall_s: float,
                userns_fd: int | None = None) -> list[str]:
        """The bwrap command line that runs ``kernel_argv`` (which reads :data:`CONNECTION`) in a new sandbox.

        ``userns_fd``: the user namespace to enter (:func:`root_userns`, when the grader runs as root); without
        it bubblewrap makes one that maps the grader's own user."""
        limits = self.limits
        argv = [self.bwrap, "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL"]
        if userns_fd is None:
            argv += NAMESPACES
            if self.disable_userns:
                argv.append("--disable-userns")
            learner = []
            nproc = limits.processes + 2  # the supervisor shares the user: one more, and one to trip on
        else:
            argv += ["--userns", str(userns_fd), *NAMESPACES[1:]]
            # the supervisor's, in the sandbox's namespace only: it reads root's files, switches the kernel to the
            # learner's user (which keeps CAP_DAC_READ_SEARCH alone), measures and kills the learner's processes
            argv += [arg for cap in ("CAP_DAC_READ_SEARCH", "CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SYS_PTRACE")
                     for arg in ("--cap-add", cap)]
            learner = ["--learner-uid", str(LEARNER_UID), "--learner-gid", str(LEARNER_UID)]
            nproc = limits.processes + 1
        argv += ["--hostname", HOSTNAME]
        for top in SYSTEM_TOP:
            host = f"/{top}"
            if os.path.islink(host):
                argv += ["--symlink", os.readlink(host), host]
            elif os.path.isdir(host):
                argv += ["--ro-bind", host, host]
        for name in ETC:
            argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        # a kit, environment or cache under /tmp (a clone in a temporary folder) is bound below /tmp, so /tmp cannot
        # become the symlink to the sandbox's own tmp: give it a capped tmpfs of its own first, binds on top
        tmp_holds_binds = any(Path(path).is_relative_to("/tmp") for path in self.binds)
        if tmp_holds_binds:
            argv += ["--perms", "1777", "--size", str(limits.disk_mb * 2**20), "--tmpfs", "/tmp"]
        for path in self.binds:
            argv += ["--ro-bind", path, path]
        argv += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(limits.shm_mb * 2**20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
                 "--perms", "1777", "--size", str(limits.disk_mb * 2**20), "--tmpfs", ROOT]
        for folder in (WORK, HOME, TMP, IPC):
            argv += ["--perms", "1777", "--dir", folder]
        for name, text in _etc_files().items():  # names resolve from these files alone: no DNS to wait for
            path = Path(connection_file).with_name(name)
            path.write_text(text, encoding="ascii")
            argv += ["--ro-bind", str(path), f"/etc/{name}"]
        if not tmp_holds_binds:
            argv += ["--symlink", TMP, "/tmp"]
        argv += ["--ro-bind", connection_file, CONNECTION, "--remount-ro", "/",
                 "--chdir", WORK, "--clearenv"]
        for key, value in sorted(self.env.items()):
            argv += ["--setenv", key, value]
        argv += ["--info-fd", str(info_fd), "--",
                 sys.executable, "-I", "-S", supervise.__file__,
                 "--memory-mb", str(limits.memory_mb), "--processes", str(limits.processes), "--nproc", str(nproc),
                 *learner, "--file-mb", str(limits.disk_mb), "--wall-s", str(int(wall_s)),
                 "--cache-from", self.cache, "--cache-to", CACHE, "--", *kernel_argv]
        return argv

    def settings(self) -> dict:
        """What a grade depends on (part of the re-grade stamp)."""
        return {"limits": asdict(self.limits), "binds": list(self.binds), "env": dict(sorted(self.env.items()))}


def _etc_files() -> dict[str, str]:
    """The sandbox's own /etc/hosts, nsswitch.conf, passwd and group (the host's say more than a learner needs)."""
    uid = LEARNER_UID if os.geteuid() == 0 else os.getuid()
    gid = LEARNER_UID if os.geteuid() == 0 else os.getgid()
    return {"hosts": f"127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
            "passwd": f"root:x:0:0:root:/root:/bin/sh\nlearner:x:{uid}:{gid}:learner:{HOME}:/bin/sh\n",
            "group": f"root:x:0:\nlearner:x:{gid}:\n"}


def root_userns() -> tuple[int, subprocess.Popen]:
    """For a grader running as root: a user namespace whose root is the host's root and whose LEARNER_UID is
    SANDBOX_KUID outside, with no nested user namespaces allowed. Returns (an fd of it, the process holding it;
    close its stdin once bubblewrap has entered the namespace).

    bubblewrap, started by root, would map the sandbox's user to root outside, and the kernel does not count
    root's processes against ``RLIMIT_NPROC``: here the kernel runs as an ordinary user outside, and keeps only
    ``CAP_DAC_READ_SEARCH`` inside, to read the bound folders (root's model cache is private to root)."""
    holder = subprocess.Popen([sys.executable, "-I", "-S", "-c", _USERNS_HOLDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        if holder.stdout.readline().strip() != "ready":
            raise RuntimeError("could not make a user namespace for the sandbox")
        for kind in ("uid", "gid"):
            Path(f"/proc/{holder.pid}/{kind}_map").write_text(f"0 0 1\n{LEARNER_UID} {SANDBOX_KUID} 1\n",
                                                              encoding="ascii")
        holder.stdin.write("go\n")
        holder.stdin.flush()
        if holder.stdout.readline().strip() != "ok":
            raise RuntimeError("could not limit nested user namespaces in the sandbox")
        return os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY), holder
    except BaseException:
        holder.kill()
        holder.wait()
        raise


def _hub_cache() -> str | None:
    try:
        from huggingface_hub import constants

        hub = Path(constants.HF_HUB_CACHE)
    except Exception:  # noqa: BLE001 - no hub library, no hub cache to show
        return None
    return str(hub.resolve()) if hub.is_dir() else None


# --------------------------------------------------------------------------------------------------
# A Jupyter kernel manager that starts the kernel in a sandbox
# --------------------------------------------------------------------------------------------------
def _kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager

    class SandboxKernelManager(AsyncKernelManager):
        """Starts the kernel inside a new sandbox and talks to it over Unix sockets in the sandbox's tmpfs."""

        def labkit_setup(self, spec: SandboxSpec, host_dir: Path, wall_s: float, log=None) -> None:
            self._spec, self._host_dir, self._wall_s, self._log = spec, Path(host_dir), wall_s, log
            self._child = self._pidns = self._userns = None
            self._info_r = self._info_w = None
            self.connection_file = str(self._host_dir / "kernel.json")

        def format_kernel_cmd(self, extra_arguments=None):
            argv = super().format_kernel_cmd(extra_arguments)
            host = os.path.realpath(self.connection_file)
            argv = [CONNECTION if arg == host else arg for arg in argv]
            self._info_r, self._info_w = os.pipe()
            self._userns = root_userns() if os.geteuid() == 0 else None
            return self._spec.command(argv, host, self._info_w, self._wall_s,
                                      self._userns[0] if self._userns else None)

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            fds = (self._info_w, *((self._userns[0],) if self._userns else ()))
            kw.update(pass_fds=fds, cwd=str(self._host_dir), stdin=subprocess.DEVNULL,
                      env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"})
            try:
                await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                for fd in fds:
                    os.close(fd)
                if self._userns:
                    self._userns[1].stdin.close()  # bubblewrap is in the namespace now (or failed)
                    self._userns[1].wait()
                if self._log is not None:
                    self._log.close_writer()  # the sandbox holds the only copies now: EOF when it is gone
            info = _read_info(self._info_r, 60)
            os.close(self._info_r)
            if "child-pid" not in info:
                if self.provisioner is not None and self.provisioner.process is not None:
                    self.provisioner.process.wait(10)
                said = self._log.wait_head(5) if self._log else ""
                raise RuntimeError("bubblewrap could not make the sandbox: " + (" ".join(said.split())[:300]
                                                                                  or "no reason given"))
            self._child, self._pidns = int(info["child-pid"]), info.get("pid-namespace")
            self.ip = f"/proc/{self._child}/root{IPC_PREFIX}"  # the grader's way into the sandbox's sockets

        async def _async_interrupt_kernel(self):
            """By message: a signal to bwrap's process group would not reach the kernel in its own session."""
            if self.has_kernel:
                msg = self.session.msg("interrupt_request", content={})
                self._connect_control_socket()
                self.session.send(self._control_socket, msg)

        interrupt_kernel = _async_interrupt_kernel  # AsyncKernelManager binds the base class's function here

        async def _async_send_kernel_sigterm(self, restart=False):
            """To the supervisor, which stops the sandbox and reports (a signal to bubblewrap would kill it
            unheard)."""
            if self._alive_child():
                try:
                    os.kill(self._child, signal.SIGTERM)
                    return
                except ProcessLookupError:
                    return
            await super()._async_send_kernel_sigterm(restart)

        def _alive_child(self) -> bool:
            try:
                return bool(self._child) and (self._pidns is None
                                              or os.stat(f"/proc/{self._child}/ns/pid").st_ino == self._pidns)
            except OSError:
                return False

        def exit_code(self) -> int | None:
            process = getattr(self.provisioner, "process", None) if self.provisioner else None
            return process.poll() if process is not None else None

        def ensure_gone(self) -> None:
            """After shutdown: the sandbox's first process (and so all of it) must be gone; kill it if not."""
            if not self._child:
                return
            for _ in range(50):
                try:
                    if self._pidns is not None and os.stat(f"/proc/{self._child}/ns/pid").st_ino != self._pidns:
                        return  # that pid belongs to another process now
                    os.kill(self._child, signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError):
                    return
                except PermissionError:
                    return
                time.sleep(0.1)

    return SandboxKernelManager


def _read_info(fd: int, timeout: float) -> dict:
    """bubblewrap's --info-fd JSON (the sandbox's first process), or {} when it exits without one."""
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        try:
            return json.loads(data)
        except ValueError:
            continue
    try:
        return json.loads(data) if data else {}
    except ValueError:
        return {}


def kernel_manager(spec: SandboxSpec, kernel_name: str, host_dir: Path, wall_s: float, log=None):
    """A kernel manager whose kernel runs in a new sandbox made from ``spec``."""
    # a kernel that takes a while to exit (torch's threads) is waited for: killing bubblewrap instead would lose the
    # supervisor's report (and its CPU accounting); one that never exits is killed after this
    km = _kernel_manager_class()(kernel_name=kernel_name, transport="ipc", ip=IPC_PREFIX, shutdown_wait_time=20.0)
    km.labkit_setup(spec, host_dir, wall_s, log)
    return km

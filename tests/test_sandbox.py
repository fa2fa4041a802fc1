"""The PAL sandbox (notebook 10): legit programs work, hostile ones are contained with clear errors.

Every hostile program here prints whatever it managed to get, so "contained" is checked twice: the
run fails with the sandbox's message, and the loot never shows up in the output. Programs that the
audit hook must stop on its own run twice: with the Linux namespaces (when the machine allows
them) and with the hook as the only guard.
"""

from __future__ import annotations

import os
import resource
import socket
import textwrap
import time
import types
import uuid

import pytest

from labkit import sandbox
from labkit.sandbox import SandboxResult, run_python

BLOCKED = "PermissionError: blocked by the sandbox"

ROGER = textwrap.dedent("""\
    # Roger has 5 tennis balls. He buys 2 more cans of tennis balls.
    # Each can has 3 tennis balls. How many tennis balls does he have now?
    tennis_balls = 5
    bought_balls = 2 * 3
    answer = tennis_balls + bought_balls
    print(f"Roger has {answer} tennis balls")
""")


def run(code: str, **kwargs) -> SandboxResult:
    kwargs.setdefault("timeout_s", 5)
    return run_python(textwrap.dedent(code), **kwargs)


def assert_blocked(result: SandboxResult, what: str) -> None:
    assert not result.ok, result
    assert result.error.startswith(BLOCKED), result.error
    assert what in result.error, result.error


@pytest.fixture(params=["namespaces", "hook-only"])
def isolation(request, monkeypatch):
    """Run a test with the machine's namespaces, then with the audit hook as the only guard."""
    if request.param == "hook-only":
        monkeypatch.setattr(sandbox, "_namespace_prefix", lambda: ())
    return request.param


# ---------------------------------------------------------------------------- programs that work
def test_pal_program_gives_answer_and_output():
    result = run(ROGER, answer_var="answer")
    assert result.ok and result.error is None
    assert result.answer == 11
    assert result.stdout == "Roger has 11 tennis balls\n"
    assert not result.truncated and 0 < result.seconds < 30  # generous: a loaded machine starts Python slowly
    shown = str(result)
    assert shown.startswith("ok in") and "answer: 11" in shown and "Roger has 11" in shown


def test_answers_come_back_as_python_values():
    assert run("answer = [1, 2.5, 'x', {'k': (True, None)}]", answer_var="answer").answer == \
        [1, 2.5, "x", {"k": (True, None)}]
    assert run("total = 7 / 2", answer_var="total").answer == 3.5
    # not a literal: the repr comes back as text
    assert run("from fractions import Fraction\nanswer = Fraction(1, 3)", answer_var="answer").answer == \
        "Fraction(1, 3)"
    # no answer_var: nothing is collected
    assert run("answer = 3").answer is None


def test_missing_answer_is_a_clear_error():
    result = run("x = 5 + 6\nprint(x)", answer_var="answer")
    assert not result.ok and result.answer is None
    assert result.error == "NameError: the program did not set `answer`"
    assert result.stdout == "11\n"


def test_standard_library_works_inside():
    result = run("""\
        import collections, dataclasses, datetime, decimal, fractions, itertools, json, logging, math
        import pathlib, random, re, statistics, tempfile, threading, traceback, zoneinfo

        @dataclasses.dataclass
        class Item:
            price: decimal.Decimal
        Point = collections.namedtuple("Point", "x y")
        print(statistics.mean([1, 2, 3]), fractions.Fraction(6, 4), math.comb(5, 2), Point(1, 2),
              Item(decimal.Decimal("1.10")).price, datetime.date(2024, 2, 29).isoformat())
        try:
            1 / 0
        except ZeroDivisionError:
            traceback.print_exc()
        answer = sum(itertools.islice(itertools.count(1), 10))
    """, answer_var="answer")
    assert result.ok, result
    assert result.answer == 55
    assert "2 3/2 10 Point(x=1, y=2) 1.10 2024-02-29" in result.stdout
    assert "ZeroDivisionError" in result.stdout  # a traceback printed by the program itself


def test_files_inside_the_working_folder_work():
    result = run("""\
        import os, shutil, tempfile
        with open("notes.txt", "w") as f:
            f.write("hello")
        os.makedirs("a/b")
        os.rename("notes.txt", "a/b/notes.txt")
        with tempfile.NamedTemporaryFile("w", delete=False) as tmp:  # TMPDIR is the working folder
            tmp.write("x")
        print(open("a/b/notes.txt").read(), sorted(os.listdir(".")), tmp.name.startswith(os.getcwd()))
        shutil.rmtree("a")
    """)
    assert result.ok, result
    assert result.stdout.startswith("hello ['a', 'program.py'") and result.stdout.endswith("True\n")


def test_sys_exit():
    assert run("import sys\nanswer = 4\nsys.exit(0)", answer_var="answer").answer == 4
    result = run("import sys\nsys.exit(3)")
    assert not result.ok and result.error == "SystemExit: the program exited with status 3"


# ------------------------------------------------------------------------- errors in the program
def test_syntax_error_names_the_line():
    result = run("x = 1\ny = (x +\nprint(y)\n")
    assert not result.ok
    assert result.error.startswith("SyntaxError: ") and "(line 2)" in result.error
    result = run("if True:\nprint('no indent')\n")
    assert result.error.startswith("IndentationError: ") and "(line 2)" in result.error


def test_user_exception_names_type_message_and_line():
    result = run("print('before')\napples = 5\nper_person = apples / 0\n")
    assert not result.ok
    assert result.error == "ZeroDivisionError: division by zero (line 3)"
    assert result.stdout == "before\n"
    assert "ZeroDivisionError" in str(result) and str(result).startswith("failed in")


# ------------------------------------------------------------------------------ files and secrets
def test_reading_files_outside_is_blocked(isolation, tmp_path):
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    (tmp_path / "secret.txt").write_text(secret)
    for path in ["/etc/passwd", str(tmp_path / "secret.txt"), f"/proc/{os.getpid()}/environ"]:
        result = run(f"print(open({path!r}).read())")
        assert_blocked(result, "opening files outside the sandbox is not allowed")
        assert secret not in result.stdout and "root:" not in result.stdout
    # a stubborn program trying the usual detours
    result = run(f"""\
        import os, posixpath, io, pathlib
        secret = {str(tmp_path / 'secret.txt')!r}
        tries = [
            lambda: open(secret).read(),
            lambda: open(secret.encode()).read(),
            lambda: pathlib.Path(secret).read_text(),
            lambda: io.open_code(secret).read(),
            lambda: os.read(os.open(secret, os.O_RDONLY), 100),
            lambda: open(os.path.relpath(secret)).read(),                      # ../../..
            lambda: (os.symlink(secret, "link"), open("link").read()),         # symlink in our folder
            lambda: (os.link(secret, "hard"), open("hard").read()),            # hard link
            lambda: (os.chdir(os.path.dirname(secret)), open("secret.txt").read()),
            lambda: os.listdir(os.path.dirname(secret)),
            lambda: (setattr(os, "lstat", lambda p: os.stat(".")),             # fool the path check
                     setattr(posixpath, "realpath", lambda p, **k: p),
                     os.symlink(secret, "link2"), open("link2").read()),
        ]
        for attempt in tries:
            try:
                print("GOT", attempt())
            except Exception as exc:
                print("no:", type(exc).__name__, str(exc)[:60])
        open(secret).read()
    """)
    assert_blocked(result, "opening files outside the sandbox is not allowed")
    assert secret not in result.stdout and "GOT" not in result.stdout, result.stdout
    assert result.stdout.count("blocked by the sandbox") == 11, result.stdout


def test_environment_variables_are_not_inherited(monkeypatch):
    monkeypatch.setenv("LABKIT_TEST_SECRET", "hf_token_do_not_leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws_do_not_leak")
    result = run("""\
        import os
        print(os.environ.get("LABKIT_TEST_SECRET"), os.environ.get("AWS_SECRET_ACCESS_KEY"))
        print(sorted(os.environ))
        print(os.environ["LABKIT_TEST_SECRET"])
    """)
    assert not result.ok and result.error == "KeyError: 'LABKIT_TEST_SECRET' (line 4)"
    first, second = result.stdout.splitlines()
    assert first == "None None"
    assert set(eval(second)) <= {"PATH", "LANG", "HOME", "TMPDIR"}
    assert "do_not_leak" not in result.stdout


def test_writing_outside_is_blocked(isolation, tmp_path):
    target = f"/tmp/evil-{uuid.uuid4().hex}"
    result = run(f"open({target!r}, 'w').write('pwned')")
    assert_blocked(result, "writing files outside the sandbox folder is not allowed")
    assert not os.path.exists(target)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for code in [f"import os\nos.remove({str(victim)!r})",
                 f"import os\nos.rename({str(victim)!r}, 'mine.txt')",
                 f"import os\nos.chmod({str(victim)!r}, 0o777)",
                 f"import shutil\nshutil.rmtree({str(tmp_path)!r})",
                 f"import os\nos.symlink('/etc/passwd', {str(tmp_path / 'link')!r})",
                 f"import os\nos.mkdir({str(tmp_path / 'made')!r})",
                 f"import os\nos.mkfifo({str(tmp_path / 'fifo')!r})"]:
        result = run(code)
        assert not result.ok and result.error.startswith(BLOCKED), (code, result.error)
    assert victim.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt"]


def test_file_size_is_capped():
    result = run("with open('big.bin', 'wb') as f:\n    f.write(b'0' * (20 * 2**20))\n")
    assert not result.ok
    limit = sandbox.FILE_LIMIT_MB
    assert result.error == f"OSError: the program wrote a file larger than the {limit} MB limit (line 2)"


def test_working_folder_is_deleted_afterwards():
    result = run("import os\nos.makedirs('deep/er')\nopen('deep/er/f', 'w').write('x')\nos.chmod('deep', 0o500)\n"
                 "print(os.getcwd())")
    folder = result.stdout.strip()
    assert result.ok and os.path.basename(folder).startswith("labkit-sandbox-")
    assert not os.path.exists(folder)
    # also when the program had to be killed
    result = run("import os\nprint(os.getcwd(), flush=True)\nwhile True:\n    pass\n", timeout_s=0.5)
    assert result.error.startswith("TimeoutError") and not os.path.exists(result.stdout.strip())


# ------------------------------------------------------------------------------------- network
def test_network_is_blocked(isolation):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        for code in [f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'hi')",
                     f"import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {port}))",
                     "import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('192.0.2.1', 80))",
                     "import socket\nsocket.getaddrinfo('example.com', 443)",
                     "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.1', 53))",
                     "import urllib.request\nurllib.request.urlopen('http://192.0.2.1/', timeout=1)"]:
            result = run(code)
            assert not result.ok and "blocked by the sandbox: network access is not allowed" in result.error, \
                (code, result.error)
        with pytest.raises(BlockingIOError):  # nothing ever reached the listener
            server.accept()


# ----------------------------------------------------------------------------- processes & co
@pytest.mark.parametrize("code", [
    "import subprocess\nsubprocess.run(['ls'])",
    "import os\nos.system('echo hi-from-shell')",
    "import os\nos.fork()",
    "import os\nos.execv('/bin/echo', ['echo', 'hi-from-exec'])",
    "import os\nos.posix_spawn('/bin/echo', ['echo', 'hi-from-spawn'], {})",
    "import os\nos.popen('echo hi-from-popen').read()",
    "import pty\npty.fork()",
    "import multiprocessing\nmultiprocessing.Process(target=print).start()",
])
def test_starting_processes_is_blocked(isolation, code):
    result = run(code)
    assert_blocked(result, "starting other processes is not allowed")
    assert "hi-from" not in result.stdout


@pytest.mark.parametrize("code, what", [
    ("import threading\nthreading.Thread(target=print).start()", "starting threads is not allowed"),
    ("import signal\nsignal.signal(signal.SIGALRM, print)", "signal handlers or sending signals"),
    ("import signal\nsignal.setitimer(signal.ITIMER_REAL, 0.1)", "signal handlers or sending signals"),
    ("import os\nos.kill(os.getppid() or 1, 0)", "sending signals is not allowed"),
    ("import os, signal\nsignal.pidfd_send_signal(os.pidfd_open(os.getppid() or 1), 0)", "sending signals"),
    ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))", "changing the sandbox's guards"),
    ("import sys\nsys.settrace(lambda *a: None)", "changing the sandbox's guards"),
    ("import gc\ngc.get_objects()", "changing the sandbox's guards"),
])
def test_threads_signals_and_guard_tampering_are_blocked(code, what):
    assert_blocked(run(code), what)


def test_program_cannot_add_its_own_audit_hook():
    # CPython silently drops a new hook when an existing one refuses it
    result = run("import sys\nsys.addaudithook(lambda event, args: print('EVENT', event))\n"
                 "open('x.txt', 'w').close()\nprint('done')")
    assert result.ok and result.stdout == "done\n"


@pytest.mark.parametrize("code", [
    "import ctypes\nctypes.CDLL(None).system(b'echo hi-from-libc')",
    "import _ctypes",
    # load the extension module by hand, past the import statement
    "import importlib.util, importlib._bootstrap as b\nb._imp.create_dynamic(importlib.util.find_spec('_ctypes'))",
])
def test_ctypes_is_blocked(isolation, code):
    result = run(code)
    assert_blocked(result, "loading C code")
    assert "hi-from" not in result.stdout


def test_disabled_functions_cannot_be_brought_back():
    result = run("""\
        import importlib, importlib.machinery, importlib._bootstrap as b, _thread
        tries = [
            lambda: importlib.reload(_thread).start_new_thread(print, ()),
            lambda: b._imp.create_builtin(importlib.machinery.ModuleSpec("_thread", None)),
        ]
        for attempt in tries:
            try:
                attempt()
                print("GOT")
            except PermissionError as exc:
                print("no:", exc)
        try:
            open("/etc/passwd")
        except PermissionError as exc:   # dig the guard out of the traceback and patch it
            tb, frames = exc.__traceback__, []
            while tb:
                frames.append(tb.tb_frame)
                tb = tb.tb_next
            guard = [f for f in frames if f.f_code.co_name == "hook"][0].f_locals["check_open"]
            guard.__defaults__ = None
    """)
    assert_blocked(result, "the sandbox's guards is not allowed")
    assert "GOT" not in result.stdout and result.stdout.count("blocked by the sandbox") == 2


def test_guard_helpers_have_no_mutable_closures():
    """The hook's helpers keep their tools in positional defaults, never in (writable) closure cells."""
    def functions(code):
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield const
                yield from functions(const)

    source = open(sandbox.CHILD_PROGRAM, encoding="utf-8").read()
    install = next(c for c in functions(compile(source, "child", "exec")) if c.co_name == "install_hook")
    helpers = [c for c in functions(install) if c.co_name not in ("refuse", "refused", "<genexpr>")]
    assert {c.co_name for c in helpers} >= {"hook", "resolve", "check_open", "check_write", "create_builtin"}
    assert all(not c.co_freevars for c in helpers), [(c.co_name, c.co_freevars) for c in helpers]


def test_child_program_imports_the_standard_library_only():
    """The child runs under `python -I -S` by path: it cannot import labkit or anything installed."""
    import ast
    import sys

    tree = ast.parse(open(sandbox.CHILD_PROGRAM, encoding="utf-8").read())
    imported = {alias.name.partition(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {(node.module or "").partition(".")[0] if node.level == 0 else "." for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported and imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)
    assert not any(isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__"
                   for node in ast.walk(tree))


# ------------------------------------------------------------------------------- runaway programs
@pytest.mark.parametrize("code", ["while True:\n    pass\n",
                                  "import time\nprint('working', flush=True)\nwhile True:\n    time.sleep(0.05)\n"])
def test_runaway_programs_time_out(code):
    start = time.monotonic()
    result = run(code, timeout_s=1)
    elapsed = time.monotonic() - start
    assert not result.ok
    assert result.error == "TimeoutError: the program ran longer than 1 s (wall clock)"
    # killed at 1 s; the margin covers process start-up and clean-up on a loaded 2-core machine
    assert 1 <= result.seconds and elapsed < 8
    if "working" in code:
        assert result.stdout == "working\n"  # output before the kill is kept


@pytest.mark.parametrize("code", ["x = bytearray(10**10)",
                                  "x = [0] * 10**9",
                                  "x = []\nwhile True:\n    x.append(' ' * 10**6)\n"])
def test_memory_bombs_fail_and_parent_is_unaffected(code):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run(code, memory_mb=128)
    assert not result.ok
    assert result.error.startswith("MemoryError: the program exceeded the 128 MB memory limit"), result.error
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: parent grew < 100 MB


@pytest.mark.parametrize("code", ["print('x' * 10**8)", "while True:\n    print('spam ' * 20)\n"])
def test_huge_output_is_truncated_and_stopped(code):
    start = time.monotonic()
    result = run(code, max_output_chars=1000, timeout_s=10)
    assert time.monotonic() - start < 5  # stopped by the output cap, not the timeout
    assert not result.ok and result.truncated
    assert result.error.startswith("OutputLimitError: the program printed more than")
    assert 0 < len(result.stdout) <= 1000
    assert "(truncated)" in str(result)


def test_chatty_program_keeps_its_result():
    result = run("for i in range(2000):\n    print('step', i)\nanswer = 42\n", max_output_chars=100,
                 answer_var="answer")
    assert result.ok and result.answer == 42 and result.truncated
    assert result.stdout == "".join(f"step {i}\n" for i in range(20))[:100]
    assert run("print('é' * 50)", max_output_chars=10).stdout == "é" * 10


# ---------------------------------------------------------------------------------- the API
@pytest.mark.parametrize("kwargs", [
    {"code": None}, {"code": b"print(1)"}, {"timeout_s": 0}, {"timeout_s": -1}, {"timeout_s": float("nan")},
    {"timeout_s": float("inf")}, {"timeout_s": "5"}, {"timeout_s": True}, {"timeout_s": 10**9}, {"memory_mb": 8},
    {"memory_mb": 10**12},
    {"memory_mb": 256.0}, {"max_output_chars": -1}, {"answer_var": "1answer"}, {"answer_var": "class"},
    {"answer_var": 7},
])
def test_bad_arguments_raise_value_error(kwargs):
    args = {"code": "print(1)", **kwargs}
    with pytest.raises(ValueError):
        run_python(**args)


def test_sandbox_layers_reports_what_is_active():
    layers = sandbox.sandbox_layers()
    assert layers["audit hook"] and layers["resource limits"] and layers["empty environment"]
    assert all(isinstance(value, bool) for value in layers.values())

"""JupyterLab in a real browser, the way a learner meets the kit (issue 16).

* ``make lab`` starts a server that lists the labs over the REST API and offers the kernel the README names,
  also when the shell is root (containers, some Studio images), where Jupyter refuses to start by default.
* In headless Chromium: notebook 02 runs up to its generation-settings widget, the widget renders, and moving
  a control regenerates the text; notebook 00 runs to its first exercise, shows the ``NotImplementedError``,
  and its check explains a wrong answer and accepts the right one.

Needs Debian's ``chromium`` and ``chromium-driver`` (the browser tests are skipped with the install command
when they are missing). Everything stays on 127.0.0.1. On failure a screenshot, the browser console, the page
and the server log are saved next to the test report (``runs/browser-test/`` by default). docs/browser-test.md
explains the choices.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from browser_helpers import (  # tests/ is on sys.path under pytest (rootdir-relative, no __init__.py)
    ROOT,
    Browser,
    JupyterServer,
    Notebook,
    find_chromium,
    free_port,
    lab_command,
    missing_chromium_message,
    wait_for,
    write_lab_settings,
)

from labkit import notebooks


def browser_test(test):
    """Marks a test that starts JupyterLab: browser, slow, and a timeout so a hung page cannot hold the suite."""
    return pytest.mark.browser(pytest.mark.slow(pytest.mark.timeout(300)(test)))


WIDGET_LAB = "02_prompts.ipynb"
WIDGET_MARKER = "settings_panel("  # how the test finds the widget cell, whatever comes before it
EXERCISE_LAB = "00_lifecycle.ipynb"
# A learner's plausible first try at exercise 00.1: the fp16 weights alone, i.e. what inference needs.
EXERCISE_ID = "00.1"
WRONG_ANSWER = "flan_t5_base_params = 247_577_856\ntraining_gb = flan_t5_base_params * 2 / 1e9\n" \
               'print(f"{training_gb:.2f} GB")'
WRONG_ANSWER_HINT = "inference"


def artifact_dir(config) -> Path:
    """Where a failed browser test leaves its screenshot and logs: beside --junitxml's report, else runs/."""
    if os.environ.get("LABKIT_BROWSER_ARTIFACTS"):
        return Path(os.environ["LABKIT_BROWSER_ARTIFACTS"])
    report = getattr(config.option, "xmlpath", None)
    return (Path(report).resolve().parent if report else ROOT / "runs") / "browser-test"


def server_env(work: Path) -> dict:
    """The test run's environment (tiny profile, network guard) plus Jupyter directories of the test's own."""
    # Not make's own variables: under `make test` they would make the inner `make lab` a sub-make of it.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")}
    env.update(JUPYTER_RUNTIME_DIR=str(work / "runtime"), JUPYTER_CONFIG_DIR=str(work / "config"))
    return env


def without_solution_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if line.strip() not in (notebooks.BEGIN, notebooks.END))


def solution_of(exercise_id: str, notebook: str) -> str:
    solution = nbformat.read(ROOT / "solutions" / notebook, as_version=4)
    for cell in solution.cells:
        if cell.metadata.get("labkit", {}).get("exercise") == exercise_id:
            return without_solution_markers(cell.source)
    raise AssertionError(f"solutions/{notebook} has no exercise {exercise_id}")


def lab_solved_above(marker: str, notebook: str) -> nbformat.NotebookNode:
    """The learner's lab with every exercise above the cell holding ``marker`` done (from the solution)."""
    lab = nbformat.read(ROOT / "labs" / notebook, as_version=4)
    target = next((i for i, c in enumerate(lab.cells) if c.cell_type == "code" and marker in c.source), None)
    assert target is not None, f"labs/{notebook} has no code cell calling {marker!r}"
    for cell in lab.cells[:target]:
        exercise_id = cell.metadata.get("labkit", {}).get("exercise")
        if exercise_id:
            cell.source = solution_of(exercise_id, notebook)
    return lab


# --- make lab ------------------------------------------------------------------------------------------------

@browser_test
def test_make_lab_serves_the_labs_and_the_readme_kernel(tmp_path, request):
    """`make lab` as a learner types it (here with a free port and a token): it starts, as root too."""
    if not (ROOT / ".venv" / "bin" / "jupyter").exists() or not shutil.which("make"):
        pytest.skip("`make lab` needs make and the project's .venv (run the suite with `make test`)")
    port, token = free_port(), secrets.token_hex(16)
    lab_args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    # -o: treat the install stamp as up to date, so a freshly edited pyproject.toml does not reinstall here.
    command = ["make", "--no-print-directory", "-o", ".venv/.labkit-installed", "lab", f"LAB_ARGS={lab_args}"]
    server = JupyterServer(command, port, token, tmp_path / "make-lab.log", env=server_env(tmp_path))
    try:
        server.wait_ready(timeout=90)
        listed = {item["name"] for item in server.api("/api/contents")["content"]}
        labs = {p.name for p in (ROOT / "labs").glob("*.ipynb")}
        assert labs and labs <= listed, f"make lab does not serve labs/: missing {sorted(labs - listed)}"

        specs = server.api("/api/kernelspecs")
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        named = re.search(r'kernel \*\*"([^"]+)"\*\*', readme)
        assert named, "README.md no longer names the kernel to pick"
        by_name = {name: spec["spec"]["display_name"] for name, spec in specs["kernelspecs"].items()}
        assert named.group(1) in by_name.values(), f"README names kernel {named.group(1)!r}; Jupyter offers {by_name}"
        assert by_name.get("python3") == named.group(1), "the labs' kernelspec (python3) is not the README's kernel"
    finally:
        server.stop()
    log = server.log()
    assert "Running as root is not recommended" not in log, log[-2000:]
    if os.geteuid() == 0:
        assert "--allow-root" in log and "root" in log.split("--allow-root")[0][-300:], (
            "make lab as root should say why it passes --allow-root:\n" + log[:2000])


# --- the browser ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium():
    found = find_chromium()
    if not found:
        pytest.skip(missing_chromium_message())
    return found


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, chromium):
    """One JupyterLab server on a copy of the labs, and one headless Chromium, for the browser tests."""
    work = tmp_path_factory.mktemp("browser")
    root = work / "labs"  # copies: running cells in JupyterLab saves outputs into the files it serves
    root.mkdir()
    nbformat.write(lab_solved_above(WIDGET_MARKER, WIDGET_LAB), root / WIDGET_LAB)
    shutil.copy(ROOT / "labs" / EXERCISE_LAB, root / EXERCISE_LAB)
    port, token = free_port(), secrets.token_hex(16)
    command = lab_command(root, port, token, write_lab_settings(work / "settings"), work / "workspaces")
    server = JupyterServer(command, port, token, work / "jupyter.log", env=server_env(work))
    browser = None
    try:
        server.wait_ready(timeout=90)
        browser = Browser(*chromium, work)
        yield SimpleNamespace(server=server, browser=browser, root=root)
    finally:
        if browser:
            browser.quit()
        server.stop()


def assert_only_loopback(browser: Browser) -> None:
    hosts = browser.hosts_contacted()
    assert "127.0.0.1" in hosts, "Chrome's performance log recorded no request: the loopback check would be empty"
    outside = hosts - {"127.0.0.1", "localhost"}
    assert not outside, f"the page reached beyond loopback: {sorted(outside)}"


@pytest.fixture
def on_failure(request, jupyterlab):
    """Wrap a browser test: on failure save screenshot, console log, page and server log, and say where."""
    return jupyterlab.browser.artifacts_on_failure(artifact_dir(request.config), request.node.name,
                                                   jupyterlab.server)


def widget_state(nb: Notebook, index: int) -> dict:
    """The generation-settings panel as the page shows it: control labels, readouts, checkbox, output text."""
    from selenium.webdriver.common.by import By

    cell = nb.cell(index)
    panels = cell.find_elements(By.CSS_SELECTOR, ".widget-interact")
    if not panels:
        return {}
    panel = panels[0]
    sliders = {s.find_element(By.CSS_SELECTOR, ".widget-label").text: s
               for s in panel.find_elements(By.CSS_SELECTOR, ".widget-slider")}
    boxes = {b.find_element(By.CSS_SELECTOR, ".widget-label-basic").text: b
             for b in panel.find_elements(By.CSS_SELECTOR, ".widget-checkbox")}
    outputs = panel.find_elements(By.CSS_SELECTOR, ".widget-output")
    return {"panel": panel, "sliders": sliders, "checkboxes": boxes,
            "output": outputs[0].get_attribute("textContent").strip() if outputs else ""}


def mark_output_seen(nb: Notebook, index: int) -> None:
    """Tag what the widget's output area shows now, so a regeneration is seen even if it prints the same text."""
    nb.driver.execute_script(
        "for (const e of arguments[0].querySelectorAll('.widget-output .jp-OutputArea-child')) e.dataset.seen = 1;",
        nb.cell(index))


def regenerated(nb: Notebook, index: int, timeout: float) -> str:
    """Wait for the widget's output area to show new, non-empty output and the kernel to be idle; the text."""
    from selenium.webdriver.common.by import By

    def fresh():
        new = nb.cell(index).find_elements(By.CSS_SELECTOR, ".widget-output .jp-OutputArea-child:not([data-seen])")
        return new and widget_state(nb, index)["output"]

    wait_for(fresh, timeout, "the widget to print newly generated text")
    nb.wait_kernel_idle(timeout)
    return widget_state(nb, index)["output"]


@browser_test
def test_generation_settings_widget_responds_to_a_learners_hand(jupyterlab, on_failure):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    timings = {}
    start = time.monotonic()
    with on_failure:
        nb = Notebook(jupyterlab.browser, jupyterlab.server, WIDGET_LAB, workspace="widget")
        nb.wait_kernel_idle(90)
        timings["open"] = time.monotonic() - start

        widget = nb.find_cell(WIDGET_MARKER)
        above = [i for i in range(widget) if nb.is_code(i)]
        nb.select(widget)
        nb.menu("Run", "Run All Above Selected Cell")
        nb.wait_until_run(above, timeout=240)
        timings["cells above"] = time.monotonic() - start
        nb.wait_kernel_idle(60)

        nb.select(widget)
        nb.shift_enter()
        wait_for(lambda: len(widget_state(nb, widget).get("sliders", {})) >= 4, 90, "the widget's sliders")
        state = widget_state(nb, widget)
        assert {"max_new_tokens", "temperature", "top_k", "top_p"} <= set(state["sliders"]), state["sliders"].keys()
        assert "do_sample" in state["checkboxes"], state["checkboxes"].keys()
        greedy = regenerated(nb, widget, 90)
        timings["widget"] = time.monotonic() - start

        # Sampling on: tick the checkbox, as a learner clicks it.
        mark_output_seen(nb, widget)
        state["checkboxes"]["do_sample"].find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
        sampled = regenerated(nb, widget, 90)
        assert widget_state(nb, widget)["checkboxes"]["do_sample"].find_element(
            By.CSS_SELECTOR, "input[type=checkbox]").is_selected()

        # Temperature: type a new value into the slider's readout and press Enter.
        mark_output_seen(nb, widget)
        readout = widget_state(nb, widget)["sliders"]["temperature"].find_element(By.CSS_SELECTOR, ".widget-readout")
        readout.click()
        ActionChains(nb.driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
        ActionChains(nb.driver).send_keys("2.5", Keys.ENTER).perform()
        hot = regenerated(nb, widget, 90)
        shown = widget_state(nb, widget)["sliders"]["temperature"].find_element(By.CSS_SELECTOR, ".widget-readout")
        assert shown.text.strip() in {"2.5", "2.50"}, f"the temperature readout shows {shown.text!r}"
        timings["controls"] = time.monotonic() - start

        assert greedy and sampled and hot, (greedy, sampled, hot)
        assert hot != sampled, "changing the temperature with do_sample on did not change the output"
        print(f"greedy: {greedy!r}\nsampled (T=1.0): {sampled!r}\nsampled (T=2.5): {hot!r}")
        print("seconds since start: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
        assert_only_loopback(jupyterlab.browser)
        jupyterlab.server.api(f"/api/kernels/{nb.kernel_id()}", method="DELETE")  # free its memory and CPU


@browser_test
def test_a_lab_stops_at_its_first_exercise_and_the_check_explains(jupyterlab, on_failure):
    start = time.monotonic()
    with on_failure:
        nb = Notebook(jupyterlab.browser, jupyterlab.server, EXERCISE_LAB, workspace="exercise")
        nb.wait_kernel_idle(90)

        exercise = nb.find_cell("raise NotImplementedError()")
        assert nb.model["cells"][exercise]["metadata"].get("labkit", {}).get("exercise") == EXERCISE_ID, (
            f"the first exercise of {EXERCISE_LAB} is no longer {EXERCISE_ID}: update WRONG_ANSWER in this test")
        check = next(i for i in range(exercise + 1, len(nb.cells())) if nb.is_code(i))
        assert "checks.check_" in nb.cell_source(check), "the cell after the exercise is not its check"

        nb.menu("Run", "Run All Cells")
        nb.wait_until_run([i for i in range(exercise) if nb.is_code(i)], timeout=180)
        error = wait_for(lambda: nb.error_in(exercise), 60, "the exercise cell to raise")
        assert "NotImplementedError" in error, error[-1500:]
        nb.wait_kernel_idle(60)
        assert not nb.executed(check), "Run All went on past the unsolved exercise"
        ran_to_exercise = time.monotonic() - start

        # A wrong answer: the check says what to look at.
        nb.type_into(exercise, WRONG_ANSWER)
        nb.select(exercise)
        nb.shift_enter()  # runs the exercise, selects the check
        nb.shift_enter()  # runs the check
        message = wait_for(lambda: nb.executed(check) and nb.output_text(check), 60, "the check's message")
        assert "CheckFailed" in message and WRONG_ANSWER_HINT in message, message[-1500:]

        # The right answer (the solution's code, typed in): the check passes.
        nb.type_into(exercise, solution_of(EXERCISE_ID, EXERCISE_LAB))
        nb.select(exercise)
        nb.shift_enter()
        nb.shift_enter()
        passed = wait_for(lambda: "\u2705" in nb.output_text(check) and nb.output_text(check), 60,
                          "the check to pass")
        assert "CheckFailed" not in passed, passed[-1500:]
        print(f"seconds: to the exercise {ran_to_exercise:.1f}, total {time.monotonic() - start:.1f}")
        assert_only_loopback(jupyterlab.browser)
        jupyterlab.server.api(f"/api/kernels/{nb.kernel_id()}", method="DELETE")


def test_without_chromium_the_browser_tests_say_how_to_install_it():
    """Never a silent skip: the message names the packages and the command."""
    message = missing_chromium_message()
    assert "apt-get install" in message and "chromium-driver" in message


def test_the_widget_lab_copy_is_the_real_lab_with_the_exercises_above_done():
    """The notebook the browser runs is labs/02 cell for cell; only exercise cells above the widget differ."""
    lab = nbformat.read(ROOT / "labs" / WIDGET_LAB, as_version=4)
    solved = lab_solved_above(WIDGET_MARKER, WIDGET_LAB)
    assert len(solved.cells) == len(lab.cells)
    changed = [i for i, (a, b) in enumerate(zip(lab.cells, solved.cells, strict=True)) if a.source != b.source]
    assert all(lab.cells[i].metadata.get("labkit", {}).get("exercise") for i in changed)
    assert all("NotImplementedError" not in solved.cells[i].source for i in changed)
    assert not any(notebooks.BEGIN in c.source or notebooks.END in c.source for c in solved.cells)


def test_failure_artifacts_go_next_to_the_test_report(monkeypatch, tmp_path):
    monkeypatch.delenv("LABKIT_BROWSER_ARTIFACTS", raising=False)
    config = SimpleNamespace(option=SimpleNamespace(xmlpath=str(tmp_path / "reports" / "junit.xml")))
    assert artifact_dir(config) == tmp_path / "reports" / "browser-test"
    config.option.xmlpath = None
    assert artifact_dir(config) == ROOT / "runs" / "browser-test"

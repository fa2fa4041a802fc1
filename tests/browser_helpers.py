"""JupyterLab on loopback and headless Chromium driven by Selenium, for tests/test_browser.py.

Three pieces: :class:`JupyterServer` starts a server (directly or through ``make lab``) on a free loopback port
with a token and talks to its REST API; :class:`Browser` starts Debian's ``chromium`` through
``chromedriver`` with the flags a closed network needs and keeps the console log; :class:`Notebook` does
what a learner does in JupyterLab (select a cell, use the Run menu, press Shift+Enter, type into a cell,
read outputs and the widgets' state). Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTALL_HINT = "sudo apt-get install -y chromium chromium-driver"  # Debian/Ubuntu; .ci/run does this as root

# Chromium on a machine without internet hangs on its own background connections unless told not to make them.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--no-proxy-server", "--disable-extensions", "--window-size=1400,1000",
)

# JupyterLab settings for the test server only: every cell in the DOM (no windowing, so a cell far down the
# notebook can be found and read), and no news / update check (both would try to reach the internet).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}

# Direct HTTP to loopback, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def find_chromium() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when either is missing."""
    browser = os.environ.get("LABKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("LABKIT_CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def missing_chromium_message() -> str:
    return ("headless Chromium is not installed, so the JupyterLab browser tests cannot run: install Debian's "
            f"packages with `{INSTALL_HINT}` (.ci/run does this when it runs as root)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_lab_settings(directory: Path) -> Path:
    for name, values in LAB_SETTINGS.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    return directory


class JupyterServer:
    """A Jupyter server process on 127.0.0.1:port with a token; its output goes to ``log_path``."""

    def __init__(self, command: list[str], port: int, token: str, log_path: Path, env: dict | None = None,
                 cwd: Path = ROOT):
        self.command, self.port, self.token, self.log_path = command, port, token, log_path
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        # Its own session (process group), so stop() can end make, the shell and Jupyter together.
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def api(self, path: str, method: str = "GET", timeout: float = 10) -> dict | list | None:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with _OPENER.open(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float = 90) -> float:
        """Poll /api/status until the server answers; returns the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"Jupyter exited with code {self.process.returncode} before serving:\n"
                                   f"{self.log()[-3000:]}")
            try:
                self.api("/api/status", timeout=2)
                return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.3)
        raise TimeoutError(f"Jupyter did not answer on {self.url} within {timeout:.0f} s:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 20) -> None:
        """Ask the server to shut down (it stops its kernels); end its process group if it does not."""
        if self.process.poll() is None:
            try:
                self.api("/api/shutdown", method="POST", timeout=5)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(self.process.pid, sig)
                        self.process.wait(5)
                        break
                    except (ProcessLookupError, subprocess.TimeoutExpired):
                        continue
        self._log.close()


def lab_command(root_dir: Path, port: int, token: str, settings_dir: Path, workspaces_dir: Path) -> list[str]:
    """JupyterLab from the environment running the tests (the project's .venv under `make test`)."""
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
               f"--LabApp.user_settings_dir={settings_dir}", f"--LabApp.workspaces_dir={workspaces_dir}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


class Browser:
    """Headless Chromium through chromedriver (Selenium), with the browser console kept for failure reports."""

    def __init__(self, chromium: str, chromedriver: str, workdir: Path):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={workdir / 'chromium-profile'}")  # a fresh profile every run
        # Names other than loopback resolve to nothing; the performance log records every request the page makes.
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        # An explicit driver path keeps Selenium Manager (which would try to download a driver) out of it.
        service = Service(executable_path=chromedriver, log_output=str(workdir / "chromedriver.log"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(60)
        self.console: list[dict] = []
        self.requested: set[str] = set()  # every http(s)/ws(s) URL the page asked for

    def urls_requested(self) -> set[str]:
        """Every http(s) and ws(s) URL the browser has requested so far (from Chrome's performance log)."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message.get("method") == "Network.requestWillBeSent":
                self.requested.add(params.get("request", {}).get("url", ""))
            elif message.get("method") == "Network.webSocketCreated":
                self.requested.add(params.get("url", ""))
        return {u for u in self.requested if u.split(":", 1)[0] in ("http", "https", "ws", "wss")}

    def hosts_contacted(self) -> set[str]:
        from urllib.parse import urlsplit

        return {urlsplit(url).hostname or "" for url in self.urls_requested()}

    def console_log(self) -> list[dict]:
        try:
            self.console += self.driver.get_log("browser")
        except Exception:  # noqa: BLE001 - a dead browser has no log to give
            pass
        return self.console

    def save_artifacts(self, directory: Path, name: str, server: JupyterServer | None = None) -> list[Path]:
        """Screenshot, console log, page HTML and the server log, for a failed test."""
        directory.mkdir(parents=True, exist_ok=True)
        saved = []
        shot = directory / f"{name}.png"
        try:
            if self.driver.save_screenshot(str(shot)):
                saved.append(shot)
        except Exception as error:  # noqa: BLE001
            print(f"(no screenshot: {error})")
        console = directory / f"{name}.console.log"
        console.write_text("\n".join(f"{e.get('timestamp')} {e.get('level')} {e.get('message')}"
                                     for e in self.console_log()) + "\n", encoding="utf-8")
        saved.append(console)
        try:
            page = directory / f"{name}.html"
            page.write_text(self.driver.page_source, encoding="utf-8")
            saved.append(page)
        except Exception:  # noqa: BLE001
            pass
        if server is not None:
            log = directory / f"{name}.jupyter.log"
            log.write_text(server.log(), encoding="utf-8")
            saved.append(log)
        return saved

    @contextmanager
    def artifacts_on_failure(self, directory: Path, name: str, server: JupyterServer | None = None):
        try:
            yield
        except BaseException:
            saved = self.save_artifacts(directory, name, server)
            print("browser test failed; saved for inspection:\n  " + "\n  ".join(map(str, saved)))
            raise

    def quit(self) -> None:
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001
            pass


def wait_for(condition, timeout: float, what: str, interval: float = 0.25):
    """Poll ``condition()`` until it returns something truthy; raise TimeoutError naming ``what``."""
    start = time.monotonic()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


class Notebook:
    """The notebook open in the browser's JupyterLab tab, used the way a learner uses it."""

    def __init__(self, browser: Browser, server: JupyterServer, path: str, workspace: str):
        self.browser, self.server, self.path = browser, server, path
        self.driver = browser.driver
        # A workspace of its own, so JupyterLab opens this notebook and restores nothing else.
        self.driver.get(f"{server.url}/lab/workspaces/{workspace}/tree/{path}?token={server.token}")
        self.panel = wait_for(self._panel, 90, f"JupyterLab to show {path}")
        self.model = server.api(f"/api/contents/{path}")["content"]  # the file as the server has it
        wait_for(lambda: len(self.cells()) == len(self.model["cells"]), 60, f"the {len(self.model['cells'])} cells "
                 f"of {path} in the page")

    # --- finding things -------------------------------------------------------------------------------------
    def _panel(self):
        from selenium.webdriver.common.by import By

        name = self.path.rsplit("/", 1)[-1]
        for panel in self.driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel"):
            if panel.get_attribute("id") and panel.is_displayed():
                tab_titles = [t.text for t in self.driver.find_elements(By.CSS_SELECTOR,
                                                                        ".lm-DockPanel-tabBar .lm-mod-current")]
                if any(name in title for title in tab_titles):
                    return panel
        return None

    def cells(self):
        from selenium.webdriver.common.by import By

        return self.panel.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")

    def cell(self, index: int):
        return self.cells()[index]

    def cell_source(self, index: int) -> str:
        from selenium.webdriver.common.by import By

        lines = self.cell(index).find_elements(By.CSS_SELECTOR, ".jp-InputArea-editor .cm-line")
        return "\n".join(line.get_attribute("textContent") for line in lines)

    def find_cell(self, needle: str) -> int:
        """Index of the first code cell whose source contains ``needle`` (as shown in the browser)."""
        for i, cell in enumerate(self.cells()):
            if "jp-CodeCell" in (cell.get_attribute("class") or "") and _squash(needle) in _squash(
                    self.cell_source(i)):
                return i
        raise AssertionError(f"no code cell containing {needle!r} in {self.path}")

    def is_code(self, index: int) -> bool:
        return "jp-CodeCell" in (self.cell(index).get_attribute("class") or "")

    def prompt(self, index: int) -> str:
        """The execution prompt: '[ ]:' not run, '[*]:' queued or running, '[7]:' done."""
        from selenium.webdriver.common.by import By

        return self.cell(index).find_element(By.CSS_SELECTOR, ".jp-InputPrompt").get_attribute("textContent")

    def executed(self, index: int) -> bool:
        return bool(re.search(r"\[\d+\]", self.prompt(index)))

    def output_text(self, index: int) -> str:
        from selenium.webdriver.common.by import By

        areas = self.cell(index).find_elements(By.CSS_SELECTOR, ".jp-OutputArea")
        return "\n".join(a.get_attribute("textContent") for a in areas)

    def error_in(self, index: int) -> str | None:
        text = self.output_text(index)
        return text if "Traceback (most recent call last)" in text else None

    def kernel_status(self) -> str:
        from selenium.webdriver.common.by import By

        found = self.panel.find_elements(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator")
        return found[0].get_attribute("data-status") if found else ""

    def kernel_id(self) -> str | None:
        sessions = [s for s in self.server.api("/api/sessions") if s.get("path") == self.path and s.get("kernel")]
        return sessions[0]["kernel"]["id"] if sessions else None

    def wait_kernel_idle(self, timeout: float = 60) -> None:
        """Wait until the notebook has a kernel (a session on the server) and its indicator says idle."""
        wait_for(lambda: self.kernel_id() and self.kernel_status() == "idle", timeout,
                 f"the kernel of {self.path} to be started and idle")

    # --- doing things ----------------------------------------------------------------------------------------
    def select(self, index: int) -> None:
        """Click a cell's prompt area: the cell is selected, in command mode."""
        from selenium.webdriver.common.by import By

        cell = self.cell(index)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
        cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()
        wait_for(lambda: "jp-mod-active" in (self.cell(index).get_attribute("class") or ""), 10,
                 f"cell {index} to be selected")

    def menu(self, top: str, item: str) -> None:
        """Click a main-menu entry, e.g. menu('Run', 'Run All Above Selected Cell')."""
        from selenium.webdriver.common.by import By

        bar = wait_for(lambda: [m for m in self.driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
                                if m.text.strip() == top], 20, f"the {top} menu")
        bar[0].click()
        entry = wait_for(lambda: [m for m in self.driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item")
                                  if m.is_displayed() and m.text.split("\n")[0].strip() == item], 10,
                         f"the menu item {top} > {item}")
        entry[0].click()

    def shift_enter(self) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        ActionChains(self.driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()

    def type_into(self, index: int, text: str) -> None:
        """Click into a code cell's editor, select everything and type ``text`` in its place."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        editor = self.cell(index).find_element(By.CSS_SELECTOR, ".jp-InputArea-editor .cm-content")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", editor)
        editor.click()
        ActionChains(self.driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
        # One line at a time, each preceded by Enter: the editor keeps no indentation for flat code.
        for k, line in enumerate(text.splitlines()):
            if k:
                ActionChains(self.driver).send_keys(Keys.ENTER).perform()
            ActionChains(self.driver).send_keys(line).perform()
        wait_for(lambda: _squash(self.cell_source(index)) == _squash(text), 10, f"cell {index} to hold the new code")
        ActionChains(self.driver).send_keys(Keys.ESCAPE).perform()  # back to command mode

    def states(self) -> list[dict]:
        """Every cell's prompt and output text, in one round trip to the browser (cheap to poll)."""
        return self.driver.execute_script("""
            return Array.from(arguments[0].querySelectorAll('.jp-Notebook .jp-Cell')).map(cell => ({
              prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
              output: Array.from(cell.querySelectorAll('.jp-OutputArea')).map(a => a.textContent).join('\\n'),
            }));""", self.panel)

    def wait_until_run(self, indices: list[int], timeout: float, stop_on_error: bool = True) -> float:
        """Wait until every code cell in ``indices`` shows an execution count; fail at the first traceback."""
        start = time.monotonic()

        def done():
            cells = self.states()
            for i in indices:
                if stop_on_error and "Traceback (most recent call last)" in cells[i]["output"]:
                    raise AssertionError(f"cell {i} of {self.path} failed:\n{cells[i]['output'][-2000:]}")
            return all(re.search(r"\[\d+\]", cells[i]["prompt"]) for i in indices)

        wait_for(done, timeout, f"cells {indices[0]}..{indices[-1]} of {self.path} to run", interval=0.5)
        return time.monotonic() - start

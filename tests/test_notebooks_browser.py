"""Every notebook, as shipped, in a real JupyterLab driven by Selenium in headless Chromium.

A JupyterLab server runs on 127.0.0.1 (a token, temporary settings,
runtime and workspace folders, no network) in a copy of the repository
whose runs are *not* scored: what a new user has after cloning. Each
notebook is opened from ``notebooks/`` (the kernel starts there), run with
Run > Run All Cells, and must finish with every code cell executed and no
error output. Then, as a person would:

* the Annotator: a click on the item text followed by ``b`` inserts no
  cell (JupyterLab's command-mode shortcut does not fire); two items are
  labelled with the keyboard and the labels file holds exactly those labels;
* the explorer, in JupyterLab's dark theme: filtering by stratum narrows
  the items, the text is readable (contrast), and no dropdown cuts its
  value off.

Screenshots are saved under the test's temporary folder (and
``$EVALTOOLS_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

selenium = pytest.importorskip("selenium", reason="pip install selenium (the dev extra)")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import JavascriptException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.browser import find_chromium  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(find_chromium() is None or not Path(CHROMEDRIVER).exists(),
                       reason="needs chromium and chromium-driver (scripts/install.sh --browser)"),
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    """A JupyterLab server and a Chromium driven by Selenium."""

    def __init__(self, project: Path, state: Path, *, dark: bool = False) -> None:
        self.project, self.state = project, state
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        settings = state / "settings"
        theme = settings / "@jupyterlab" / "apputils-extension"
        theme.mkdir(parents=True)
        (theme / "themes.jupyterlab-settings").write_text(
            json.dumps({"theme": "JupyterLab Dark" if dark else "JupyterLab Light"})
        )
        notify = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notify.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "JUPYTER_CONFIG_DIR": str(state / "config"),
            "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
            "IPYTHONDIR": str(state / "ipython"),
            "EVALTOOLS_CACHE_DIR": str(state / "cache"),
            "HOME": str(state / "home"),
        }
        (state / "home").mkdir()
        self.log = (state / "lab.log").open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={project}",
                f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={state / 'workspaces'}",
                "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--ServerApp.open_browser=False", "--ServerApp.allow_root=True",
                "--LabApp.extension_manager=readonly",
            ],
            cwd=project, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self._wait_for_server()
        options = webdriver.ChromeOptions()
        options.binary_location = find_chromium() or ""
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1400,1000", "--proxy-server=127.0.0.1:9",  # loopback is never proxied
                    "--disable-background-networking", "--disable-component-update", "--no-first-run",
                    f"--user-data-dir={state / 'chromium'}"):  # fmt: skip
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(60)

    def _wait_for_server(self) -> None:
        deadline = time.monotonic() + 90
        url = f"http://127.0.0.1:{self.port}/api/status?token={self.token}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(self.state / 'lab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("JupyterLab did not answer within 90 s")

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
            self.log.close()

    # ------------------------------------------------------------ helpers

    def wait(self, what: Callable[[], Any], timeout: float, message: str) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = what()
            except JavascriptException:
                value = None
            if value:
                return value
            time.sleep(0.5)
        self.shot("timeout")
        raise TimeoutError(f"{message} (after {timeout} s)")

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def shot(self, name: str) -> Path:
        path = self.state / "shots" / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        self.driver.save_screenshot(str(path))
        extra = os.environ.get("EVALTOOLS_SCREENSHOTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    def open(self, notebook: str) -> None:
        self.driver.get(f"http://127.0.0.1:{self.port}/lab/tree/notebooks/{notebook}?token={self.token}&reset")
        self.wait(lambda: self.js(
            "const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');"
            "return p && p.querySelector('.jp-Cell') && "
            "document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]');"
        ), 120, f"{notebook} did not open with an idle kernel")  # fmt: skip

    def run_all(self, notebook: str, timeout: float) -> None:
        def started() -> bool:
            return bool(self.js(
                "const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');"
                "return [...p.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                ".some(e => /\\[(\\*|\\d+)\\]/.test(e.textContent));"
            ))  # fmt: skip

        # Run > Run All Cells, as a person would; a click that lands while the kernel is still
        # connecting runs nothing, so it is tried again until a cell starts.
        for _attempt in range(4):
            time.sleep(3)
            self.driver.find_element(
                By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel') and text()='Run']").click()
            item = self.wait(lambda: self.driver.find_elements(
                By.XPATH, "//li[contains(@class,'lm-Menu-item')][.//div[text()='Run All Cells']]"), 20,
                "no Run All Cells item")  # fmt: skip
            item[0].click()
            try:
                self.wait(started, 30, "Run All started no cell")
                break
            except TimeoutError:
                continue
        else:
            raise TimeoutError(f"Run All never started a cell of {notebook}")

        def finished() -> bool:
            return bool(self.js(
                "const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');"
                "const prompts = [...p.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(e => e.textContent);"
                "const idle = document.querySelector('.jp-Notebook-ExecutionIndicator[data-status=\"idle\"]');"
                "return idle && prompts.length && prompts.every(t => /\\[\\d+\\]/.test(t));"
            ))  # fmt: skip

        self.wait(finished, timeout, f"Run All did not finish {notebook}")

    def errors(self) -> list[str]:
        return list(self.js(
            "const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');"
            "return [...p.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText)"
            ".filter(t => /Traceback|^\\w*(Error|Exception)\\b|\\n\\w*(Error|Exception): /.test(t));"
        ))  # fmt: skip

    def cell_count(self) -> int:
        return int(self.js(
            "return document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)')"
            ".querySelectorAll('.jp-Notebook .jp-Cell').length;"
        ))  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone's files: golden set, recorded (unscored) runs, notebooks."""
    root = tmp_path_factory.mktemp("lab") / "project"
    root.mkdir()
    shutil.copytree(ROOT / "golden", root / "golden", ignore=shutil.ignore_patterns("annotator*.jsonl"))
    shutil.copytree(ROOT / "runs", root / "runs", ignore=shutil.ignore_patterns("scores.jsonl", "*-wal", "*-shm"))
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


@pytest.fixture(scope="module")
def lab(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    server = Lab(project, tmp_path_factory.mktemp("lab-state"))
    try:
        yield server
    finally:
        server.close()


# The explorer scores the runs on first use; the others then find them scored.
ORDER = ["explore.ipynb", *[n for n in NOTEBOOKS if n != "explore.ipynb"]]


@pytest.mark.parametrize("notebook", ORDER)
def test_run_all_runs_every_cell_without_error(lab: Lab, notebook: str) -> None:
    lab.open(notebook)
    lab.run_all(notebook, timeout=900)
    lab.shot(f"run-all-{notebook.removesuffix('.ipynb')}")
    assert lab.errors() == []
    if notebook == "annotate.ipynb":
        _label_two_items_with_the_keyboard(lab)
    if notebook == "explore.ipynb":
        _filter_in_the_explorer(lab)


def _annotator_status(lab: Lab) -> str:
    return str(lab.js(
        "const a = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .et-annotator');"
        "return a ? a.innerText : '';"
    ))  # fmt: skip


def _label_two_items_with_the_keyboard(lab: Lab) -> None:
    labels = lab.project / "golden" / "support" / "labels" / "annotator1.jsonl"
    text = lab.wait(lambda: _annotator_status(lab), 60, "the Annotator did not render")
    assert "Item 1 of 60" in text
    first = re.search(r"id (\S+)", text).group(1)  # type: ignore[union-attr]
    zone = lab.driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .et-annotator")
    cells = lab.cell_count()
    # A click on the item text, then 'b' (with the mouse over the widget, and after moving it away):
    # JupyterLab's command-mode shortcut must not insert a cell.
    ActionChains(lab.driver).move_to_element(zone).click().send_keys("b").perform()
    time.sleep(1.0)
    assert lab.cell_count() == cells, "'b' over the widget reached JupyterLab and inserted a cell"
    toolbar = lab.driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar")
    ActionChains(lab.driver).move_to_element(zone).click().move_to_element(toolbar).send_keys("b").perform()
    time.sleep(1.0)
    assert lab.cell_count() == cells, "'b' after a click on the item text inserted a cell"
    assert "Item 1 of 60" in _annotator_status(lab)  # 'b' on the first item stays there
    # Label two items: the mouse over the widget, keys as typed (helpfulness then factual_accuracy).
    ActionChains(lab.driver).move_to_element(zone).perform()
    for key in "43":
        ActionChains(lab.driver).send_keys(key).perform()
        time.sleep(0.4)
    lab.wait(lambda: "Item 2 of 60" in _annotator_status(lab), 30, "the first item did not complete")
    second = re.search(r"id (\S+)", _annotator_status(lab)).group(1)  # type: ignore[union-attr]
    zone = lab.driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .et-annotator")
    ActionChains(lab.driver).move_to_element(zone).perform()
    for key in "52":
        ActionChains(lab.driver).send_keys(key).perform()
        time.sleep(0.4)
    lab.wait(lambda: "Item 3 of 60" in _annotator_status(lab), 30, "the second item did not complete")
    lab.shot("annotator-after-two-items")
    assert lab.cell_count() == cells
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert [(r["item_id"], r["dimension"], r["value"], r["annotator"]) for r in rows] == [
        (first, "helpfulness", 4.0, "annotator1"),
        (first, "factual_accuracy", 3.0, "annotator1"),
        (second, "helpfulness", 5.0, "annotator1"),
        (second, "factual_accuracy", 2.0, "annotator1"),
    ]
    # Only items the judge dimensions score are offered: answers, never triage tickets.
    items = {json.loads(x)["id"]: json.loads(x) for x in (lab.project / "golden/support/items.jsonl").open()}
    assert all("answer" in items[i]["tags"] for i in (first, second))


def _explorer_status(lab: Lab) -> str:
    return str(lab.js(
        "const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');"
        "const s = [...p.querySelectorAll('.widget-html-content')].map(e => e.innerText)"
        ".find(t => /matching item/.test(t)); return s || '';"
    ))  # fmt: skip


def _filter_in_the_explorer(lab: Lab) -> None:
    status = lab.wait(lambda: _explorer_status(lab), 60, "the explorer did not render")
    total = int(re.search(r"(\d+) matching", status).group(1))  # type: ignore[union-attr]
    assert total == 250
    panel = lab.driver.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden)")
    widths = lab.js(
        "const out = [];"
        "for (const s of arguments[0].querySelectorAll('.widget-dropdown select')) {"
        "  const c = document.createElement('canvas').getContext('2d');"
        "  const st = getComputedStyle(s); c.font = st.fontSize + ' ' + st.fontFamily;"
        "  const longest = Math.max(...[...s.options].map(o => c.measureText(o.text).width));"
        "  out.push([s.options[s.selectedIndex].text, longest, s.clientWidth]); }"
        "return out;",
        panel,
    )
    assert len(widths) == 5
    for _text, longest, width in widths:
        assert longest + 24 <= width, f"a dropdown cuts its options off: {widths}"
    stratum = next(s for s in panel.find_elements(By.CSS_SELECTOR, ".widget-dropdown")
                   if s.text.startswith("stratum"))  # fmt: skip
    Select(stratum.find_element(By.TAG_NAME, "select")).select_by_visible_text("adversarial")
    lab.wait(lambda: f"{total} matching" not in _explorer_status(lab), 30, "filtering changed nothing")
    narrowed = int(re.search(r"(\d+) matching", _explorer_status(lab)).group(1))  # type: ignore[union-attr]
    assert 0 < narrowed < total
    def headers() -> list[str]:
        return list(lab.js(
            "return [...arguments[0].querySelectorAll('.et-item')].map(e => e.firstElementChild.innerText);", panel
        ))  # fmt: skip

    # the count and the items are two widgets, synced one after the other
    lab.wait(lambda: headers() and all("adversarial" in h for h in headers()), 30, f"not all adversarial: {headers()}")
    lab.shot("explorer-filtered")


@pytest.fixture(scope="module")
def dark_lab(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    server = Lab(project, tmp_path_factory.mktemp("lab-dark"), dark=True)
    try:
        yield server
    finally:
        server.close()


def _luminance(rgb: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+", rgb)[:3])

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def test_explorer_is_readable_in_the_dark_theme(dark_lab: Lab) -> None:
    lab = dark_lab
    lab.open("explore.ipynb")
    lab.run_all("explore.ipynb", timeout=600)
    assert lab.errors() == []
    lab.wait(lambda: _explorer_status(lab), 60, "the explorer did not render")
    pairs = lab.js(
        "const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');"
        "const bg = e => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;"
        "  if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; };"
        "return [...p.querySelectorAll('.et-item pre, .et-item b')].slice(0, 20)"
        ".map(e => [getComputedStyle(e).color, bg(e)]);"
    )  # fmt: skip
    assert pairs
    lab.shot("explorer-dark")
    for fg, bg in pairs:
        a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
        assert (a + 0.05) / (b + 0.05) >= 4.5, f"text {fg} on {bg} is hard to read"
    assert _luminance(pairs[0][1]) < 0.2  # the dark theme really is on

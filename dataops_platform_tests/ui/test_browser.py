"""The two UIs in a real browser: `dagster dev` and `mlflow ui` over a copy of the demo home,
driven by headless Chromium through Playwright (SPEC §8, §9, §12).

The servers are started as `make dagster-ui` / `make mlflow-ui` start them (MLflow lighter: one
worker, no job runner), on free loopback ports, once for the module, and their process groups
are always killed afterwards.
What the pages must show is read from the code and the stores (the five groups, `RULES`, the
sensors and schedules of `definitions.defs`, the MLflow runs), never typed in twice.

Screenshots and the servers' logs land in $DATAOPS_TEST_ARTIFACTS (default
`test-artifacts/ui/`). Without Chromium the module skips, except in CI (CI=true) where it fails.
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
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from dataops_platform.demo.materialize import MaterializeOutcome
from dataops_platform.rules import RULES
from dataops_platform.settings import Settings, load_settings
from dataops_platform.tracking.client import EXPERIMENT_PREFIX, TAG_STATUS, TAG_VERSION, Tracking

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
# The venv's own entry points, next to the interpreter running the tests (not resolved: the
# venv's python is a symlink to the system one).
VENV_BIN = Path(sys.executable).parent
# Debian's Chromium (apt), the one `.ci/run` installs; Playwright's own browser download cannot work here.
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("DATAOPS_TEST_ARTIFACTS") or REPO / "test-artifacts" / "ui")
GROUPS = ("platform_overview", "versions_and_releases", "experiments_and_evaluation", "alerts_and_sla", "audit_and_review")
START_DEADLINE_S = 180.0
STOP_GRACE_S = 15.0
# First paints of the Dagster UI on two busy cores can take several seconds.
expect.set_options(timeout=30_000)


# -- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and everything it spawned; nothing of its process group survives."""
        if self.process.poll() is None:
            # The leader first: `dagster dev` shuts its webserver, daemon and code server down
            # through their shutdown pipes; a SIGTERM to the whole group at once leaves the
            # children hanging mid-shutdown.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group (a hung child, a leader that ignored SIGTERM) is killed.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=STOP_GRACE_S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(name: str, argv: list[str], env: dict[str, str], port: int) -> Server:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / f"{name}.log"
    with log.open("wb") as out:
        # A session of its own, so its process group holds the server and all its children.
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def _http(url: str, body: dict[str, Any] | None = None) -> str | None:
    """The response body, or None while the server does not answer 200 yet."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode() if response.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


LOCATION_QUERY = """
query { workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _dagster_ready(server: Server) -> bool:
    """True once the code location has loaded; fails at once if it loaded with an error (the
    UI would then show empty pages and every assertion would time out without saying why)."""
    raw = _http(f"{server.url}/graphql", {"query": LOCATION_QUERY})
    if raw is None:
        return False
    workspace = json.loads(raw).get("data", {}).get("workspaceOrError", {})
    entries = workspace.get("locationEntries") or []
    if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
        return False
    errors = [e["locationOrLoadError"]["message"] for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
    if errors:
        pytest.fail(f"the code location failed to load in dagster dev:\n{errors[0]}\n--- log tail ---\n{server.log_tail()}")
    return True


AUTOMATION_QUERY = """
query { repositoriesOrError { ... on RepositoryConnection { nodes {
  sensors { name sensorState { status ticks(limit: 1) { status } } } } } }
  runsOrError(filter: {statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) { ... on Runs { results { runId } } } }
"""


def _dagster_settled(server: Server) -> bool:
    """True once every running sensor has finished a first tick and no run is queued or going.

    A sensor that starts RUNNING may ask for a refresh on its first tick over a fresh home; the
    pages are checked on the settled instance, the one a person opening `make dagster-ui` looks
    at a minute later, not in the middle of a run that re-evaluates the checks."""
    raw = _http(f"{server.url}/graphql", {"query": AUTOMATION_QUERY})
    if raw is None:
        return False
    data = json.loads(raw)["data"]
    sensors = [s for repo in data["repositoriesOrError"]["nodes"] for s in repo["sensors"]]
    ticked = all(
        s["sensorState"]["ticks"] and s["sensorState"]["ticks"][0]["status"] != "STARTED"
        for s in sensors
        if s["sensorState"]["status"] == "RUNNING"
    )
    return ticked and not data["runsOrError"]["results"]


def _mlflow_ready(server: Server) -> bool:
    return _http(f"{server.url}/health") is not None


def _wait_until_ready(checks: dict[str, tuple[Server, Callable[[Server], bool]]]) -> None:
    """Poll every server until each is ready; fail with the log tail of one that dies or times out."""
    deadline = time.monotonic() + START_DEADLINE_S
    pending = dict(checks)
    while pending:
        for name, (server, ready) in list(pending.items()):
            code = server.process.poll()
            if code is not None:
                pytest.fail(f"{name} exited with {code} before it was ready\n--- log tail ---\n{server.log_tail()}")
            if ready(server):
                del pending[name]
        if pending and time.monotonic() > deadline:
            name, (server, _) = next(iter(pending.items()))
            pytest.fail(f"{name} not done after {START_DEADLINE_S:.0f}s\n--- log tail ---\n{server.log_tail()}")
        if pending:
            time.sleep(0.5)


@dataclass(frozen=True)
class UIs:
    dagster: str
    mlflow: str


@pytest.fixture(scope="module")
def ui_home(demo_home: tuple[Settings, MaterializeOutcome], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private copy of the demo home: `dagster dev` writes into its instance, and the sensors
    its daemon ticks may act on the governance store."""
    source, _ = demo_home
    target = tmp_path_factory.mktemp("ui") / "home"
    shutil.copytree(source.home_dir, target)
    return load_settings(target)


def _server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAOPS_", "DAGSTER_", "MLFLOW_"))}
    env.update(DATAOPS_HOME=str(settings.home_dir), DAGSTER_HOME=str(settings.dagster_home), PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="module")
def uis(ui_home: Settings) -> Iterator[UIs]:
    """Both UIs over the copy, started together (their start-ups overlap) and always stopped."""
    env = _server_env(ui_home)
    dagster_port, mlflow_port = _free_port(), _free_port()
    servers: list[Server] = []
    try:
        dagster = _start(
            "dagster",
            [str(VENV_BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(dagster_port)],
            env,
            dagster_port,
        )
        servers.append(dagster)
        # One worker and no job runner (its pool of consumers serves GenAI jobs): the UI only reads,
        # and the machine has two cores shared with Dagster and Chromium.
        mlflow = _start(
            "mlflow",
            [
                str(VENV_BIN / "mlflow"),
                "ui",
                "--backend-store-uri",
                ui_home.tracking_uri,
                "-h",
                "127.0.0.1",
                "-p",
                str(mlflow_port),
                "--workers",
                "1",
            ],
            {**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            mlflow_port,
        )
        servers.append(mlflow)
        _wait_until_ready({"dagster dev": (dagster, _dagster_ready), "mlflow ui": (mlflow, _mlflow_ready)})
        _wait_until_ready({"dagster dev's first sensor ticks and their runs": (dagster, _dagster_settled)})
        yield UIs(dagster.url, mlflow.url)
    finally:
        for server in servers:
            server.stop()


# -- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test the UIs in a browser: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with _fresh_page(browser) as page:
        yield page


@contextmanager
def _fresh_page(browser: Browser) -> Iterator[Page]:
    """A page in a context of its own: no cookies or local storage (UI preferences) carried over."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        page = context.new_page()
        # Dagster's "Join the Dagster community" dialog opens on a first load, whenever it likes:
        # Playwright dismisses it before any action or assertion it would cover.
        page.add_locator_handler(page.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click())
        yield page
    finally:
        context.close()


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png")


def _dagster_screenshot(page: Page, name: str) -> None:
    # Dagster fills rows in (tick history, toggles) after the names: wait for its spinners to go.
    expect(page.get_by_role("progressbar")).to_have_count(0)
    _screenshot(page, name)


# -- Dagster -----------------------------------------------------------------------------------


def test_dagster_shows_the_five_panels_as_asset_groups(page: Page, uis: UIs) -> None:
    page.goto(f"{uis.dagster}/asset-groups")
    for group in GROUPS:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    _dagster_screenshot(page, "dagster-asset-groups")


def test_dagster_shows_the_13_checks_passed(page: Page, uis: UIs) -> None:
    assert len(RULES) == 13 and len({r.name for r in RULES}) == 13
    by_asset: dict[str, list[str]] = {}
    for rule in RULES:
        by_asset.setdefault(rule.asset, []).append(rule.name)
    for asset, names in by_asset.items():
        page.goto(f"{uis.dagster}/assets/{asset}?view=checks")
        # Exactly this asset's checks, no more: a stray check would show here too.
        expect(page.get_by_text(f"Checks ({len(names)})", exact=True)).to_be_visible()
        for name in names:
            # The list row: the check's name (a truncating box titled with it) and, beside it, the
            # status of its latest evaluation.
            row = page.get_by_title(name, exact=True).first.locator("xpath=..")
            expect(row).to_contain_text("Succeeded")
        _dagster_screenshot(page, f"dagster-checks-{asset}")


def _expected_automation(settings: Settings) -> dict[str, list[str]]:
    """The sensors and schedules of `definitions.defs` as the code location loads them over this
    home: in a fresh interpreter, since the schedules come from the spec applied there."""
    script = (
        "import json\n"
        "from dataops_platform.definitions import defs\n"
        "repo = defs.get_repository_def()\n"
        "print(json.dumps({'sensors': sorted(s.name for s in repo.sensor_defs),"
        " 'schedules': sorted(s.name for s in repo.schedule_defs)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=_server_env(settings), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"loading dataops_platform.definitions failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dagster_lists_the_sensors_and_schedules(page: Page, uis: UIs, ui_home: Settings) -> None:
    expected = _expected_automation(ui_home)
    assert expected["sensors"], "definitions.defs has no sensors"
    assert expected["schedules"], "definitions.defs has no schedules (the operating rhythm of the applied spec)"
    page.goto(f"{uis.dagster}/automation")
    # Each row links to the sensor's or schedule's own page (the URL says which kind it is) and,
    # once its details have loaded, describes it: "Standard sensor", "Scheduled At 09:00 ...".
    described = {"sensors": re.compile(r"sensor$"), "schedules": re.compile(r"Scheduled At ")}
    for kind in ("sensors", "schedules"):
        for name in expected[kind]:
            row = page.locator(f'a[href$="/{kind}/{name}"]')
            expect(row).to_be_visible()
            expect(row).to_contain_text(described[kind])
    _dagster_screenshot(page, "dagster-automation")


# -- MLflow ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_runs(ui_home: Settings) -> list[tuple[Any, list[Any]]]:
    """The demo's `dataops/<project>` experiments with their runs, read from the store itself."""
    client = Tracking(ui_home.tracking_uri).client
    experiments = client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'")
    runs = [(e, client.search_runs([e.experiment_id])) for e in experiments]
    assert runs and all(r for _, r in runs), "the demo logged no MLflow runs"
    return runs


TABLE_TAGS = (TAG_STATUS, TAG_VERSION)  # the verdict and the dataset version, shown as runs-table columns


def test_mlflow_lists_the_demo_runs_with_their_tags(
    page: Page, browser: Browser, uis: UIs, mlflow_runs: list[tuple[Any, list[Any]]]
) -> None:
    untagged = [r.info.run_name for _, runs in mlflow_runs for r in runs if not all(t in r.data.tags for t in TABLE_TAGS)]
    assert not untagged, f"runs without {TABLE_TAGS} in the MLflow store: {untagged}"
    page.goto(f"{uis.mlflow}/#/experiments")
    for experiment, _ in mlflow_runs:
        expect(page.get_by_role("link", name=experiment.name, exact=True)).to_be_visible()
    _screenshot(page, "mlflow-experiments")
    for experiment, runs in mlflow_runs:
        # A fresh page each: the runs table keeps its chosen columns in local storage, and a
        # remembered column would be toggled off again by the clicks below.
        with _fresh_page(browser) as table:
            table.goto(f"{uis.mlflow}/#/experiments/{experiment.experiment_id}/runs")
            for run in runs:
                expect(table.get_by_role("link", name=run.info.run_name, exact=True)).to_be_visible()
            expect(table.get_by_text(re.compile(rf"^{len(runs)} matching runs?$"))).to_be_visible()
            # The assistant's side panel would squeeze the tag columns out of view.
            table.get_by_role("button", name="Close", exact=True).click()
            table.get_by_role("button", name="Columns", exact=True).click()
            for tag in TABLE_TAGS:
                table.get_by_role("dialog").get_by_text(tag, exact=True).click()
            table.keyboard.press("Escape")
            for tag in TABLE_TAGS:
                # The grid's header cell wraps a second one with the same name.
                expect(table.get_by_role("columnheader", name=tag, exact=True).first).to_be_visible()
                # Every value of the tag in as many cells as runs carry it.
                for value, count in Counter(r.data.tags[tag] for r in runs).items():
                    expect(table.get_by_role("gridcell", name=value, exact=True)).to_have_count(count)
            _screenshot(table, f"mlflow-runs-{experiment.name.removeprefix(EXPERIMENT_PREFIX)}")


def test_mlflow_run_page_shows_the_dataops_tags(page: Page, uis: UIs, mlflow_runs: list[tuple[Any, list[Any]]]) -> None:
    # The regressed run carries the most of them: the verdict, the baseline and the deltas.
    experiment, runs = next((e, rs) for e, rs in mlflow_runs if any(r.data.tags.get(TAG_STATUS) == "regressed" for r in rs))
    regressed = [r for r in runs if r.data.tags.get(TAG_STATUS) == "regressed"]
    run = regressed[0]
    # MLflow searches our tags: filtering the project's runs on the verdict finds exactly those.
    search = urllib.parse.quote(f"tags.`{TAG_STATUS}` = 'regressed'")
    page.goto(f"{uis.mlflow}/#/experiments/{experiment.experiment_id}/runs?searchFilter={search}")
    expect(page.get_by_text(re.compile(rf"^{len(regressed)} matching runs?$"))).to_be_visible()
    for other in runs:
        expect(page.get_by_role("link", name=other.info.run_name, exact=True)).to_have_count(int(other in regressed))
    _screenshot(page, "mlflow-runs-filtered-regressed")
    page.get_by_role("link", name=run.info.run_name, exact=True).click()
    expect(page).to_have_url(re.compile(f"/runs/{run.info.run_id}"))
    for key, value in run.data.tags.items():
        if key.startswith("dataops."):
            # Each tag is a chip titled with its key, reading "key: value".
            expect(page.locator(f'[role="status"][title="{key}"]')).to_have_text(f"{key}: {value}")
    _screenshot(page, "mlflow-run-regressed")

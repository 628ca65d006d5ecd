"""Fixtures for the hub tests: hubs on free loopback ports, image layouts, headless Chromium."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hub_harness import HubServer, Layout, Receiver, git, hub_cli  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "hub"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def start_hub(tmp_path):
    """Start hubs with extra `serve` arguments; all are stopped at teardown."""
    servers: list[HubServer] = []

    def start(*args: str, root: Path | None = None) -> HubServer:
        n = len(servers)
        server = HubServer(root or tmp_path / "hub", tmp_path / f"hub{n}.log", *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def hub(start_hub) -> HubServer:
    return start_hub()


@pytest.fixture
def git_source(tmp_path):
    """Make a bare repository a build source of the hub at tmp_path/hub (hook installed) with extra
    `source add` options; returns a clone to commit in, on branch main."""

    def make(repo: str = "team/app", *options: str) -> Path:
        name = repo.replace("/", "-")
        bare, work = tmp_path / f"{name}.git", tmp_path / f"{name}-work"
        git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(bare))
        git(tmp_path, "clone", "--quiet", str(bare), str(work))
        git(work, "checkout", "--quiet", "-b", "main")
        assert "post-receive" in hub_cli(tmp_path / "hub", "source", "add", repo, "--git", str(bare), *options).stdout
        return work

    return make


@pytest.fixture
def receiver():
    """A webhook receiver whose first request fails (HTTP 500), so retries show."""
    server = Receiver(failures=1)
    yield server
    server.stop()


@pytest.fixture
def layout(tmp_path) -> Layout:
    return Layout(tmp_path / "layout")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium per test module (started with the flags a closed network needs)."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def screenshot(browser, request):
    """Save the browser's current page as test-artifacts/hub/<test>-<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        browser.save_screenshot(str(path))
        return path

    return take

"""What is inside an image, on its tag page: the OS from os-release and the installed packages
(dpkg, apk, Python dist-info, a busybox binary), whiteouts honoured; and the packages two tags
differ by. The Debian image is made of this host's own os-release and dpkg database, and
`dpkg-query` on the host says what the page must list."""

from __future__ import annotations

import subprocess
from pathlib import Path

from selenium.webdriver.common.by import By

from tests.helpers.layertars import TarBuilder
from tests.integration.hub.hub_harness import busybox_layer, push

EVIL = '<img src=x onerror="document.title=\'pwned\'">'
SITE = "usr/lib/python3/dist-packages"


def _installed() -> dict[str, str]:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}|${Package}|${Version}\n"],
                         capture_output=True, text=True, check=True).stdout
    return {p: v for s, p, v in (line.split("|") for line in out.splitlines()) if s.startswith("ii")}


def _debian_layers() -> tuple[bytes, bytes, bytes, dict[str, str]]:
    """The host's Debian files; a layer changing the package database; one deleting a Python package."""
    status = Path("/var/lib/dpkg/status").read_text()
    stanzas = status.strip().split("\n\n")
    first, second = stanzas[0].splitlines()[0].split(": ")[1], stanzas[1].splitlines()[0].split(": ")[1]
    bumped = stanzas[0].replace("\nVersion: ", "\nVersion: 99:", 1)
    extra = ("Package: hubtest-extra\nStatus: install ok installed\nVersion: 1.2-3\n\n"
             f"Package: {EVIL}\nStatus: install ok installed\nVersion: 1\n")
    new_status = "\n\n".join([bumped, *stanzas[2:]]) + "\n\n" + extra
    base = (TarBuilder().dir("etc").symlink("etc/os-release", "../usr/lib/os-release")
            .file("usr/lib/os-release", Path("/usr/lib/os-release").read_bytes())
            .file("var/lib/dpkg/status", status.encode()).bytes())
    change = (TarBuilder().file("var/lib/dpkg/status", new_status.encode())
              .file(f"{SITE}/demo_pkg-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: demo-pkg\nVersion: 1.0\n")
              .bytes())
    wipe = TarBuilder().file(f"{SITE}/.wh.demo_pkg-1.0.dist-info").bytes()
    return base, change, wipe, {"bumped": first, "removed": second}


def _rows(browser, table: str) -> dict[str, list[str]]:
    """Each row of a package table: its data-package and its cells' text (one script, not a round trip per cell)."""
    return dict(browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0] + ' tr[data-package]'))"
        ".map(r => [r.dataset.package, Array.from(r.cells).map(c => c.textContent)])", f"#{table}"))


def _pretty_name() -> str:
    line = next(ln for ln in Path("/usr/lib/os-release").read_text().splitlines() if ln.startswith("PRETTY_NAME="))
    return line.split("=", 1)[1].strip('"')


def test_os_and_packages_per_tag_and_the_diff_between_tags(hub, layout, browser, screenshot):
    base, change, wipe, names = _debian_layers()
    layout.add("deb", [base])
    layout.add("deb2", [base, change])
    layout.add("deb3", [base, change, wipe])
    layout.add("bb", [busybox_layer()])
    for tag in ("deb", "deb2", "deb3"):
        push(layout, tag, hub, f"team/os:{tag}")
    push(layout, "bb", hub, "team/bb:1")

    browser.get(hub.url + "/r/team/os/-/image/deb")
    assert browser.find_element(By.ID, "os").text == _pretty_name()
    listed = {name: cells[1] for name, cells in _rows(browser, "packages").items()}
    assert listed == _installed()  # what dpkg itself says is installed, not a line more
    screenshot("debian-packages")

    browser.get(hub.url + "/r/team/os/-/image/deb2")
    kinds = {name: cells[2] for name, cells in _rows(browser, "packages").items()}
    assert kinds["demo-pkg"] == "python" and kinds["hubtest-extra"] == "deb" and names["removed"] not in kinds
    assert kinds[EVIL] == "deb" and browser.title != "pwned"  # a hostile package name is text
    assert not browser.find_elements(By.CSS_SELECTOR, "#packages img")

    browser.get(hub.url + "/r/team/os/-/image/deb3")
    assert "demo-pkg" not in _rows(browser, "packages")

    browser.get(hub.url + "/r/team/bb/-/image/1")
    assert browser.find_element(By.ID, "os").text == "unknown (no os-release)"
    version = subprocess.run(["busybox"], capture_output=True, text=True).stdout.split()[1].lstrip("v")
    assert _rows(browser, "packages") == {"busybox": ["busybox", version, "binary"]}

    browser.get(hub.url + "/r/team/os/-/diff?from=deb&to=deb2")
    def names_in(table):
        return list(_rows(browser, table))

    assert sorted(names_in("added")) == sorted([EVIL, "demo-pkg", "hubtest-extra"])
    assert names_in("removed") == [names["removed"]]
    assert names_in("changed") == [names["bumped"]]
    assert browser.title != "pwned"
    screenshot("diff")
    assert hub.get("/r/team/os/-/diff?from=deb&to=nope")[0] == 404
    assert hub.get("/r/team/none/-/diff?from=a&to=b")[0] == 404
    assert hub.get("/r/team/os/-/diff")[0] == 200  # the form alone

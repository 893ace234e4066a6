"""The report and the web app in a real headless Chromium (Debian's chromium + chromium-driver, via selenium).

    apt-get install -y chromium chromium-driver && pytest tests/test_web_browser.py

Pages must load without console errors, plots must render (images with a
natural size, the lineage SVG laid out), links between candidate pages must
work, and screenshots must be non-blank PNGs. Skipped when chromium is absent.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from archagent.agent.web import make_server
from archagent.evals.report import write_report
from archagent.knowledge.store import Store

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian's chromium and chromium-driver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1200,900")


NAME = "digits-replay"  # tests/conftest.py: finished_campaign


@pytest.fixture(scope="module")
def example_store(finished_campaign):
    return finished_campaign[0].store


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(example_store):
    srv = make_server(example_store, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def image_sizes(driver) -> list[int]:
    return driver.execute_script("return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")


def svg_box(driver) -> dict:
    return driver.execute_script("const r = document.querySelector('svg').getBoundingClientRect();"
                                 "return {w: r.width, h: r.height, links: document.querySelectorAll('svg a').length}")


def assert_screenshot(driver, path: Path) -> None:
    from PIL import Image

    driver.save_screenshot(str(path))
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 100 and img.height > 100
        lo, hi = img.convert("L").getextrema()
        assert hi - lo > 50, "blank screenshot"


def best_id(store_path: Path) -> int:
    ok = [c for c in Store(store_path).candidates(1) if c.metric is not None]
    return max(ok, key=lambda c: c.metric).id


def test_report_in_browser(browser, example_store, tmp_path):
    out = write_report(Store(example_store), NAME, tmp_path / "report.html")
    browser.get(out.as_uri())
    assert browser.title == f"archagent report: {NAME}"
    sizes = image_sizes(browser)
    assert len(sizes) >= 4 and min(sizes) > 0
    box = svg_box(browser)
    assert box["w"] > 100 and box["h"] > 50 and box["links"] >= 3
    assert_screenshot(browser, tmp_path / "report.png")
    best = best_id(example_store)
    browser.find_element("css selector", f'#top-table a[href="#diff-{best}"]').click()  # the top-10 table's diff link
    assert browser.execute_script("return location.hash") == f"#diff-{best}"
    assert browser.find_element("id", f"diff-{best}").is_displayed()
    assert console_errors(browser) == []


def test_web_app_leaderboard_candidate_lineage(browser, server, example_store, tmp_path):
    browser.get(server + "/")
    browser.find_element("link text", NAME).click()
    assert browser.current_url.endswith(f"/campaign/{NAME}")
    rows = browser.find_elements("css selector", "#leaderboard a.cand")
    best = best_id(example_store)
    assert len(rows) == len(Store(example_store).candidates(1)) and rows[0].text == f"#{best}"  # sorted by metric
    assert_screenshot(browser, tmp_path / "leaderboard.png")
    rows[0].click()
    assert browser.current_url.endswith(f"/candidate/{best}")
    assert min(image_sizes(browser)) > 0  # the training curve
    assert "class Net" in browser.find_element("css selector", ".hl").text
    assert browser.find_element("id", "diff").text.startswith("Diff from #")
    parent = browser.find_element("css selector", "#parents a")
    parent_id = parent.text
    parent.click()
    assert browser.find_element("tag name", "h1").text.startswith(parent_id)
    assert_screenshot(browser, tmp_path / "candidate.png")
    assert console_errors(browser) == []


def test_web_app_lineage_graph_links(browser, server, tmp_path):
    browser.get(f"{server}/campaign/{NAME}/lineage")
    box = svg_box(browser)
    assert box["w"] > 100 and box["links"] >= 3
    href = browser.execute_script("return document.querySelector('svg a').getAttribute('xlink:href')"
                                  " || document.querySelector('svg a').getAttribute('href')")
    browser.get(server + href)
    assert browser.find_element("tag name", "h1").text.startswith(f"#{href.rsplit('/', 1)[1]}")
    browser.get(server + "/candidate/424242")
    assert "no candidate 424242" in browser.page_source
    browser.get_log("browser")  # the 404 above logs a console error by design; nothing else may
    browser.get(f"{server}/campaign/{NAME}?sort=params&status=ok")
    assert all(s.text == "ok" for s in browser.find_elements("css selector", "#leaderboard td span"))
    assert_screenshot(browser, tmp_path / "lineage.png")
    assert console_errors(browser) == []

"""The report, end to end: the suite run as a user runs it, on a correct and a broken module.

One run (a subprocess from the repository root, output not a terminal) writes the report; the
tests read its terminal output, its JSON, its PNGs, open its HTML in headless Chromium, and
paste a failure's reproduce command into a shell. A second run in a pseudo-terminal shows the
live progress line.
"""
import json
import os
import pty
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

from conformance import ROOT
from meta_tests.catalogue import BUGS
from meta_tests.subprocesses import fresh_env, pytest_cmd

pytestmark = [pytest.mark.selftest, pytest.mark.xdist_group("report")]  # one worker: the run fixture once
BROKEN = next(b for b in BUGS if b.id == "missing_factor_two")  # gradients half what they should be
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The suite over meta_tests/correct/student.py (conforms) and broken_backprop.py (does not), four
    of its families (the report is the same machinery for all of them) plus the device family,
    which NumPy-only modules leave out with a reason."""
    tmp = tmp_path_factory.mktemp("report")
    broken = tmp / "broken_backprop.py"
    broken.write_text(BROKEN.text())
    out = tmp / "out"
    proc = subprocess.run(pytest_cmd("--impl=meta_tests/correct/student.py", f"--impl={broken}", f"--report={out}",
                                     "-k", "contract or gradients or learning or hygiene or devices"),
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=fresh_env())
    return {"proc": proc, "out": out, "json": json.loads((out / "conformance.json").read_text())}


def cell(run, name, family):
    impl = next(i for i in run["json"]["implementations"] if i["name"] == name)
    return impl["verdict"], impl["cells"][family]


def test_terminal_ends_with_the_matrix_and_says_where_the_report_is(run):
    out = run["proc"].stdout
    assert run["proc"].returncode == 1, out[-3000:]
    matrix = out[out.index("= conformance ="):]
    assert re.search(r"^student +pass +pass +pass +pass +conforms \(4 of 7 families run\)$", matrix, re.M), matrix
    assert re.search(r"^broken_backprop +\S.*FAIL \d+/\d+.* FAILS$", matrix, re.M), matrix
    assert re.search(r"^broken_backprop · gradients: w\d grad differs .*likely: a missing factor 2", matrix, re.M), \
        matrix
    assert re.search(r"^    reproduce: \S+ -m pytest 'tests/test_gradients.py::", matrix, re.M), matrix
    assert re.search(r"^not applicable, left out \(\d+\): device checks of 2 implementations \(student, "
                     r"broken_backprop\): it uses NumPy alone", matrix, re.M), matrix
    where = re.search(r"^report: (\S+)/ \(conformance.html, conformance.json, gradebook.csv, loss_curves.png, "
                      r"trajectory_error.png\)$", matrix, re.M)
    assert where and (ROOT / where[1]).resolve() == run["out"].resolve(), matrix


def test_progress_is_off_when_the_output_is_not_a_terminal(run):
    assert "\r" not in run["proc"].stdout and "t = 499" not in run["proc"].stdout


def test_json_has_every_cell_with_its_reason(run):
    data = run["json"]
    assert data["families"] == ["contract", "gradients", "learning", "hygiene"]
    verdict, grads = cell(run, "student", "gradients")
    assert verdict == "conforms (4 of 7 families run)" and grads["status"] == "pass" and grads["fail"] == 0
    verdict, grads = cell(run, "broken_backprop", "gradients")
    assert verdict == "FAILS" and grads["status"] == "fail" and re.match(r"w\d grad differs", grads["reason"])
    assert all(f["reproduce"] and f["test"].startswith("tests/test_gradients.py::") for f in grads["failures"])
    assert "devices" not in data["families"]  # NumPy alone: not applicable, left out with its reason
    assert any("device checks of student" in reason for reason in data["left_out"])
    losses = next(i for i in data["implementations"] if i["name"] == "student")["tutorial_run"]["losses"]
    assert len(losses) == 500 and losses[-1] < losses[0]


COUNTED = """

import time as _time

_train = train


def train(x, y, cfg):  # the same, 2 ms slower a call, and writing down every call that returns
    _time.sleep(0.002)
    out = _train(x, y, cfg)
    with open(LOG, "a") as f:
        f.write(f"{cfg.steps}\\n")
    return out
"""


def test_the_time_inside_train_is_said(tmp_path):
    """The time line (terminal, JSON) counts every call of train made during the tests, each
    test's share under its family, and at least the time the module itself spent there. The
    module (in its own process) logs every call, the structure probe's before the tests too:
    at most 16 calls of one step."""
    log, out = tmp_path / "calls.log", tmp_path / "out"
    module = tmp_path / "counted.py"
    student = (ROOT / "meta_tests" / "correct" / "student.py").read_text()
    module.write_text(student + COUNTED.replace("LOG", repr(str(log))))
    proc = subprocess.run(pytest_cmd(f"--impl={module}", f"--report={out}", "-k", "contract or hygiene or domain"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=fresh_env())
    assert proc.returncode == 0, proc.stdout[-3000:]
    steps = [int(n) for n in log.read_text().split()]  # the calls that returned (refused ones raise first)
    spent = json.loads((out / "conformance.json").read_text())["implementations"][0]["time"]
    probe = len(steps) - spent["calls"]  # one step each
    assert 0 <= sum(steps) - spent["steps"] == probe <= 16, (spent, len(steps), sum(steps))
    assert spent["tests_s"] >= spent["train_s"] >= 0.002 * spent["calls"], spent
    assert set(spent["families"]) == {"contract", "hygiene", "domain"}
    assert sum(f["steps"] for f in spent["families"].values()) == spent["steps"]
    line = re.search(r"^time: counted's tests took ([\d.]+) s: ([\d.]+) s inside its train \(([\d,]+) calls, "
                     r"([\d,]+) steps, [\d.]+ ms a step on average\), [\d.]+ s the suite's own .*the longest "
                     r"families: domain", proc.stdout, re.M)
    assert line and int(line[4].replace(",", "")) == spent["steps"], proc.stdout[-2000:]
    assert re.search(r"^time: [\d.]+ s before the first test \(imports", proc.stdout, re.M), proc.stdout[-2000:]
    page = (out / "conformance.html").read_text()
    assert re.search(r'<table id="time">.*<tr><th>counted</th><td>[\d.]+ s</td><td>[\d.]+ s</td><td>[\d,]+</td>'
                     rf'<td>{spent["steps"]:,}</td><td>domain [\d.]+ s</td></tr>', page), page[-2000:]


def test_a_failures_reproduce_command_runs_as_pasted(run):
    _, grads = cell(run, "broken_backprop", "gradients")
    command = grads["reproduce"]
    proc = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=fresh_env())
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 failed" in proc.stdout and grads["reason"] in proc.stdout, proc.stdout[-2000:]


def curve_pixels(png, colour: str) -> int:
    """How many pixels of the image are (nearly) this '#rrggbb' colour."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return int((np.abs(png[..., :3] - rgb).max(axis=-1) < 0.06).sum())


@pytest.mark.parametrize("figure", ["loss_curves", "trajectory_error"])
def test_figures_are_images_with_a_curve_per_implementation(run, figure):
    from matplotlib.image import imread

    figures = run["json"]["figures"]
    png = imread(run["out"] / figures["files"][figure])
    assert png.shape[0] >= 300 and png.shape[1] >= 600, png.shape
    assert (png[..., :3] < 0.9).any(axis=-1).mean() > 0.02, "the image is (nearly) blank"
    assert curve_pixels(png, "#123456") < 50, "the pixel count finds a colour nobody drew"
    for name, colour in figures["colours"].items():
        # a curve across 500 steps is hundreds of pixels; a legend swatch alone is about 60
        assert curve_pixels(png, colour) > 250, f"{name}'s curve ({colour}) is missing from {figure}"


def test_a_blank_image_fails_the_pixel_check():
    assert curve_pixels(np.ones((450, 1000, 4)), "#1f77b4") == 0


# ----------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.skip(f"no headless browser: {', '.join(missing)} not installed (Debian packages chromium and "
                    f"chromium-driver; `./run tests` installs them when it runs as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request the page makes
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(run, browser):
    browser.get((run["out"] / "conformance.html").as_uri())
    deadline = time.time() + 10
    while browser.execute_script("return document.readyState") != "complete" and time.time() < deadline:
        time.sleep(0.05)
    return browser


def test_html_renders_the_matrix(page):
    assert page.title == "Conformance report: 1 of 2 implementations conform"
    rows = page.execute_script(
        "return Array.from(document.querySelectorAll('#matrix tbody tr')).map(r => r.innerText)")
    assert len(rows) == 2 and "conforms" in rows[0] and "FAILS" in rows[1], rows
    shot = np.frombuffer(page.get_screenshot_as_png(), dtype=np.uint8)
    assert shot.size > 10_000  # a real screenshot came back


def test_a_failed_cell_links_to_its_repro(page):
    links = page.execute_script(
        "return Array.from(document.querySelectorAll('#matrix td.fail a')).map(a => a.getAttribute('href'))")
    assert links, "no failed cell links anywhere"
    for href in links:
        text = page.execute_script("const s = document.querySelector(arguments[0]); return s && s.innerText;", href)
        assert text and "-m pytest 'tests/" in text, (href, text)


def test_figures_are_shown(page):
    images = page.execute_script("return Array.from(document.images).map("
                                 "i => [i.closest('figure').id, i.complete, i.naturalWidth])")
    assert sorted(i[0] for i in images) == ["loss_curves", "trajectory_error"], images
    assert all(complete and width >= 600 for _, complete, width in images), images


def test_nothing_is_fetched_from_outside(page):
    log = [json.loads(entry["message"])["message"] for entry in page.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in log if m["method"] == "Network.requestWillBeSent"]
    assert urls, "the browser logged no requests at all (the log is not working)"
    outside = [u for u in urls if not u.startswith(("file:", "data:"))]
    assert not outside, outside
    links = page.execute_script("return Array.from(document.querySelectorAll('[src], [href]'))"
                                ".map(e => e.getAttribute('src') || e.getAttribute('href'))")
    assert all(u.startswith(("#", "data:")) for u in links), [u for u in links if not u.startswith(("#", "data:"))]


def test_thirty_rows_read_per_row_in_the_browser(run, browser, tmp_path):
    """A class of 30 rows (the run's two, fifteen times over): a section per row, failures first,
    each with its own four curves drawn, every matrix row linked to its section, one file."""
    from conformance.html_report import to_html

    rows = [{**impl, "name": f"s{n:02d}/{impl['name']}"} for n in range(15) for impl in run["json"]["implementations"]]
    data = {**run["json"], "implementations": rows, "figures": {"files": {}}}
    (tmp_path / "class.html").write_text(to_html(data, tmp_path))
    browser.get((tmp_path / "class.html").as_uri())
    sections = browser.execute_script(
        "return Array.from(document.querySelectorAll('section.row')).map(s => [s.id, s.innerText, "
        "Array.from(s.querySelectorAll('polyline')).map(p => p.getBBox().width)])")
    assert len(sections) == 30
    assert all("FAILS" in text for _, text, _ in sections[:15]) and all("conforms" in t for _, t, _ in sections[15:])
    assert all(len(widths) == 4 and min(widths) > 100 for _, _, widths in sections), sections[0]
    links = browser.execute_script("return Array.from(document.querySelectorAll('#matrix th a'))"
                                   ".map(a => !!document.querySelector(a.getAttribute('href')))")
    assert len(links) == 30 and all(links)


# ----------------------------------------------------------------- live progress


def test_a_terminal_shows_live_progress(tmp_path):
    broken = tmp_path / "broken_backprop.py"
    broken.write_text(BROKEN.text())
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(pytest_cmd("--impl=meta_tests/correct/student.py", f"--impl={broken}", "--report=none",
                                       "-k", "learning or test_grads_match_reference"),
                            cwd=ROOT, stdout=secondary, stderr=secondary, env={**fresh_env(), "COLUMNS": "150"})
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=120)
    os.close(primary)
    out = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode(errors="replace"))
    assert re.search(r"\r\[ *\d+/\d+\] student · learning   t = 499  loss = \d", out), out[-3000:]
    assert re.search(r"FAIL broken_backprop · gradients: w\d grad differs", out), out[-3000:]
    assert "[100%]" not in out  # pytest's own progress is replaced, not doubled

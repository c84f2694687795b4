"""``gazebench report``: the page's content on a hand-made results tree (records with a shrunk
test population, a duplicate unit, an analysis folder as ``gazebench analyze`` writes it, a broken
manifest), and the page opened in real headless Chromium with the network shut and logged."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gazebench.report import external_references, write_report
from tests.fixtures.make_results import example
from tests.helpers import cli, use_cards

#: the figure's colour: the screenshot shows it only if the inlined image was decoded and drawn
MARKER = (214, 0, 214)
TABLE_CSV = "yaw_bin,n,mean_error\n-180,4,12.5\n-90,6,14.25\n0,9,9.125\n90,5,13.0\n"


def figure_png() -> bytes:
    image = Image.new("RGB", (360, 200), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([20, 20, 340, 180], fill=MARKER)
    draw.line([20, 180, 340, 20], fill="black", width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def write_analysis_folder(results: Path, runs: list[Path]) -> Path:
    """An analysis folder as the contract lays it out: table.csv, a PNG, analysis.json."""
    folder = results / "analysis" / "bins-0123abcd"
    folder.mkdir(parents=True)
    (folder / "table.csv").write_text(TABLE_CSV)
    (folder / "table.json").write_text("[]\n")
    (folder / "error_by_yaw.png").write_bytes(figure_png())
    records = [json.loads(p.read_text()) for p in runs]
    manifest = {
        "kind": "bins",
        "title": "Error by gaze yaw",
        "runs": [str(p) for p in runs],
        "unit_ids": [r["unit_id"] for r in records],
        "run_names": [f"static seed {r['seed']}" for r in records],
        "options": {"yaw_bin": 90},
        "table": "table.csv",
        "figures": ["error_by_yaw.png"],
        "notes": ["hand-made note: bins with fewer than 5 samples are marked"],
        "command": ["gazebench", "analyze", "bins", "--run", str(runs[0]), "--set", "yaw_bin=90"],
        "created_at": "2024-05-02T08:00:00+00:00",
        "environment": {"gazebench": "0.1.0", "torch": "2.4.0", "git_sha": "1" * 40, "git_dirty": True},
    }
    (folder / "analysis.json").write_text(json.dumps(manifest, indent=2))
    return folder


@pytest.fixture()
def tree(tmp_path, monkeypatch) -> Path:
    """docs/leaderboards.md's example tree (configurations under one label, a shrunk population),
    a copy of one unit (set aside as a duplicate), one analysis and one unreadable manifest."""
    root = tmp_path / "results"
    example(root)
    use_cards(monkeypatch, root / "cards")
    static = sorted((root / "example" / "synthgaze" / "static").glob("*.json"))
    copy = json.loads(static[0].read_text())
    copy["created_at"] = "2024-05-03T00:00:00+00:00"
    (static[0].parent / "copy-of-unit.json").write_text(json.dumps(copy))
    write_analysis_folder(root, static[:2])
    (root / "analysis" / "order-broken").mkdir()
    (root / "analysis" / "order-broken" / "analysis.json").write_text('{"kind": "order", ')
    return root


@pytest.fixture()
def report(tree, tmp_path, capsys) -> Path:
    out = tmp_path / "out" / "report.html"
    assert cli("report", "--results", tree, "--out", out, "--title", "Example report") == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"wrote {out} (")
    return out


def records_of(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "example").rglob("fold-*.json"))]


def without_data_uris(page: str) -> str:
    return re.sub(r"data:[a-z/+.-]+;base64,[A-Za-z0-9+/=]+", "data:", page)


# --- the page's content (no browser) --------------------------------------------------------------


def test_page_has_the_leaderboards_with_marks_footnotes_and_subsets(report):
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>Example report</title>" in page
    for metric in ("all.mean", "front180.mean", "front20.mean", "back.mean"):
        assert f"<h3>{metric}:" in page
    assert page.count("<th") > 10 and "synthgaze (default)" in page and "rtgene (original)" in page
    assert "staticsc (crops=175, lr=0.001)" in page  # rows named by what differs
    assert "†[" in page and "test subject s012 named by the protocol has no samples under the root" in page


def test_every_run_has_its_provenance_and_every_cell_links_to_it(report, tree):
    page = report.read_text()
    records = records_of(tree)
    ids = set(re.findall(r'id="([^"]+)"', page))
    for record in records:
        assert f"unit-{record['unit_id']}" in ids
        assert record["identity"]["hash"] in page
        assert f"sha256 {record['population']['sha256'][:8]}" in page
    assert "short of the protocol: test subject s012" in page
    assert "git 0000000000" in page and "18 samples" in page
    links = set(re.findall(r'href="#([^"]+)"', page))
    assert links <= ids  # every internal link lands somewhere
    assert {f"unit-{r['unit_id']}" for r in records} <= links  # every run is behind some cell


def test_analysis_is_shown_with_its_table_figure_and_provenance(report, tree):
    page = report.read_text()
    folder = tree / "analysis" / "bins-0123abcd"
    assert "Error by gaze yaw" in page and "hand-made note: bins with fewer than 5 samples" in page
    assert "<td>9.125</td>" in page and "<th>mean_error</th>" in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert [base64.b64decode(i) for i in images] == [(folder / "error_by_yaw.png").read_bytes()]
    assert "gazebench analyze bins --run" in page and "yaw_bin=90" in page and "git 1111111111 (dirty)" in page
    manifest = json.loads((folder / "analysis.json").read_text())
    for unit, name in zip(manifest["unit_ids"], manifest["run_names"]):
        assert f'<a href="#unit-{unit}">{name} ({unit})</a>' in page


def test_notes_name_skipped_manifests_and_duplicates_but_not_analysis_files(report):
    page = report.read_text()
    assert "skipping analysis" in page and "order-broken" in page
    assert "copy-of-unit.json" in page and "copies of the same unit" in page
    assert "table.json" not in page  # an analysis' files are not result records gone wrong


def test_page_refers_to_nothing_outside_itself(report):
    page = report.read_text()
    assert external_references(page) == []
    assert "http" not in without_data_uris(page).lower()
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert [p.name for p in report.parent.iterdir()] == ["report.html"]  # written atomically, no leftovers


def test_external_references_finds_what_a_browser_would_fetch():
    bad = (
        '<img src="http://a.example/x.png"><link rel="stylesheet" href="//cdn.example/x.css">'
        '<div style="background:url(y.png)"></div><style>@import "z.css";</style>'
        '<p>text that says src=http://not.a.tag</p><a href="#ok">ok</a><img src="data:image/png;base64,AA">'
    )
    assert external_references(bad) == ["http://a.example/x.png", "//cdn.example/x.css", "y.png", "z.css"]


def test_text_from_the_files_is_escaped_not_markup(tree, tmp_path):
    """Text read from results and manifests (titles, notes, options) is shown as text: the page gains
    no element from it."""
    path = tree / "analysis" / "bins-0123abcd" / "analysis.json"
    manifest = json.loads(path.read_text())
    manifest.update(
        title='<script>alert("x")</script>', notes=["<img src=http://a.example/x.png>"], options={"<u>key</u>": "&amp;"}
    )
    path.write_text(json.dumps(manifest))
    page = write_report(tree, tmp_path / "r.html", title="<i>report</i>")[0].read_text()
    assert "<script" not in page and "<u>" not in page and "<i>" not in page and "<img src=http" not in page
    assert "<title>&lt;i&gt;report&lt;/i&gt;</title>" in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page and "&lt;u&gt;key&lt;/u&gt;=&amp;amp;" in page
    assert external_references(page) == []


def test_benchmark_keeps_its_runs_and_the_analyses_of_them(tree, tmp_path):
    _, data = write_report(tree, tmp_path / "r.html", benchmark="example")
    assert len(data.runs) == len(records_of(tree)) and [a.folder.name for a in data.analyses] == ["bins-0123abcd"]
    _, data = write_report(tree, tmp_path / "r.html", benchmark="another")
    assert data.runs.empty and data.analyses == []


def test_empty_results_folder_and_no_analyses(tmp_path):
    (tmp_path / "results").mkdir()
    path, data = write_report(tmp_path / "results", tmp_path / "r.html")
    page = path.read_text()
    assert data.runs.empty and "No results." in page and "No analyses under" in page


def test_missing_results_folder_is_one_line(tmp_path, capsys):
    assert cli("report", "--results", tmp_path / "nope", "--out", tmp_path / "r.html") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gazebench report: FileNotFoundError: no results folder") and "\n" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_shows_what_gazebench_analyze_wrote(tree, tmp_path):
    with pytest.warns(UserWarning, match="copies of the same unit"):  # the tree's duplicate, set aside
        assert cli("analyze", "bins", "--results", tree, "--dataset", "synthgaze", "--model", "staticsc") == 0
    written = [p for p in (tree / "analysis").glob("bins-*") if p.name != "bins-0123abcd"]
    assert len(written) == 1
    manifest = json.loads((written[0] / "analysis.json").read_text())
    path, data = write_report(tree, tmp_path / "r.html")
    page = path.read_text()
    assert manifest["title"] in page and f'id="analysis-{written[0].name}"' in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    for name in manifest["figures"]:
        assert base64.b64encode((written[0] / name).read_bytes()).decode() in images
    assert external_references(page) == [] and "http" not in without_data_uris(page).lower()


# --- in a real browser ----------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: a closed proxy and a resolver that resolves nothing: any request fails, and the net log shows it
NO_NETWORK = [
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
#: URL schemes that never leave the machine
LOCAL_SCHEMES = ("file:", "data:", "about:", "chrome:", "blob:")


def headless(page: Path, work: Path, height: int = 2000) -> tuple[Path, list[dict], subprocess.CompletedProcess]:
    """Screenshot ``page`` in headless Chromium (1280 x ``height``) with the network shut; returns
    the screenshot, the requests of the net log and the finished process."""
    name = f"{page.stem}-{height}"
    shot, netlog = work / f"{name}.png", work / f"{name}.netlog.json"
    argv = [
        CHROMIUM,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--user-data-dir={work / ('profile-' + name)}",
        f"--screenshot={shot}",
        f"--window-size=1280,{height}",
        f"--log-net-log={netlog}",
        *NO_NETWORK,
        page.resolve().as_uri(),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return shot, net_requests(netlog), done


def net_requests(netlog: Path) -> list[dict]:
    """Every URL request Chromium's network stack started (URL_REQUEST_START_JOB events) with its
    url, initiator and isolation key.  A log cut short by an exit is closed before parsing."""
    text = netlog.read_text()
    try:
        log = json.loads(text)
    except ValueError:
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"] for e in log["events"] if e["type"] == start and "url" in (e.get("params") or {})]


def page_requests(requests: list[dict]) -> list[str]:
    """The requests the page made: Chromium's own background requests (update checks, account
    lookups) have no origin as initiator; anything the page loads, fetches or navigates to has
    the page's (``null`` for file:) or a frame's."""
    return [
        r["url"] for r in requests if r.get("initiator") != "not an origin" and not r["url"].startswith(LOCAL_SCHEMES)
    ]


def marker_pixels(image: Image.Image) -> int:
    rgb = np.asarray(image.convert("RGB"), dtype=int)
    return int((np.abs(rgb - np.array(MARKER)).max(axis=2) <= 6).sum())


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.mark.chromium
@needs_chromium
def test_report_opens_in_headless_chromium_without_network(report, tmp_path):
    shot, requests, done = headless(report, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    image = Image.open(shot)
    assert image.format == "PNG" and image.size == (1280, 2000)
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, rules and shading, not a blank page
    assert page_requests(requests) == []
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile-dom'}",
            *NO_NETWORK,
            "--dump-dom",
            report.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "<table" in dom and "all.mean" in dom and re.search(r'<img src="data:image/png', dom)
    # the inlined figure is decoded and drawn: its colour is on a screen tall enough to reach it
    shot, requests, done = headless(report, tmp_path, height=5000)
    assert done.returncode == 0 and marker_pixels(Image.open(shot)) > 20_000
    assert page_requests(requests) == []


@pytest.mark.chromium
@needs_chromium
def test_the_network_check_sees_a_page_that_reaches_out(tmp_path):
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><p>leaky</p><img src="http://img.example/x.png">'
        '<script>fetch("https://api.example/data")</script></body></html>'
    )
    _, requests, done = headless(page, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(page_requests(requests)) == {"http://img.example/x.png", "https://api.example/data"}

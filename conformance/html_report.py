"""conformance.html: one self-contained page (no scripts, nothing fetched) from the report's data:
the matrix, a section per row with its tutorial run (conformance/panels.py), failures with their
repro commands, the figures, the speed table, the time table."""
import html
from base64 import b64encode

from conformance import panels
from conformance.terminal import mark, speed_lines

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: .35em .7em; text-align: left; vertical-align: top; }
td.pass { background: #dff3e0; } td.fail { background: #f9d6d5; } td.skip { background: #f3efd9; color: #555; }
.verdict-conforms { color: #1a6b22; font-weight: 600; } .verdict-FAILS { color: #a61b14; font-weight: 600; }
section.row { border-top: 1px solid #eee; } section.row h3 { margin-bottom: .2em; } svg.panel { max-width: 100%; }
td.verdict-partly { color: #1a6b22; }
tr.FAILS th { color: #a61b14; } pre { background: #f5f5f5; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
img { max-width: 100%; border: 1px solid #ddd; } .small { color: #666; font-size: 12px; }
"""


def anchor(name, family=None) -> str:
    """The id of a failed cell's section, or of a row's own section (family None)."""
    return ("row-" if family is None else "fail-") + "".join(c if c.isalnum() else "-" for c in
                                                             (name if family is None else f"{name}-{family}"))


def row_sections(data) -> str:
    """A section per implementation, failures first: its verdict, file, first failure and the
    likely bug, notes, and its tutorial run beside the oracle's (conformance/panels.py)."""
    e = html.escape
    out = []
    rows = sorted(data["implementations"], key=lambda i: not i["verdict"] == "FAILS")
    for impl in rows:
        failed = [(f, c) for f, c in impl["cells"].items() if c["status"] == "fail"]
        lines = [f'<p><b class="verdict-{"FAILS" if failed else "conforms"}">{e(impl["verdict"])}</b>'
                 + (f' · <code>{e(impl["file"])}</code>' if impl.get("file") else "") + "</p>"]
        for family, cell in failed[:1]:
            lines.append(f'<p>{e(family)}: {e(cell["reason"])} <a href="#{anchor(impl["name"], family)}">'
                         f'repro</a></p>')
        lines += [f'<p class="small">{e(note)}</p>' for note in impl.get("notes", [])]
        run = impl.get("tutorial_run")
        figure = (panels.row_svg(run, failed=any(f == "trajectory" for f, _ in failed)) if run else
                  '<p class="small">No tutorial run (the learning family did not run for it).</p>')
        out.append(f'<section class="row" id="{anchor(impl["name"])}"><h3>{e(impl["name"])}</h3>'
                   f'{"".join(lines)}{figure}</section>')
    return "".join(out)


def to_html(data, outdir) -> str:
    e = html.escape
    fams = data["families"]
    rows, notes = [], {}  # notes: skip reason or note -> its number under the table
    for impl in data["implementations"]:
        cells = []
        for f in fams:
            c = impl["cells"][f]
            label = mark(c)
            if c["status"] == "fail":
                body = f'<a href="#{anchor(impl["name"], f)}">{e(label)}</a><br><span class="small">{e(c["reason"])}</span>'
            elif c["status"] == "skip":
                n = notes.setdefault(f"skipped: {c['reason']}", len(notes) + 1)
                body = f'{e(label)} <a href="#skip-{n}"><sup>{n}</sup></a>'
            elif c.get("notes"):
                marks = [notes.setdefault(f"note: {t}", len(notes) + 1) for t in c["notes"]]
                body = e(label) + "".join(f' <a href="#skip-{n}"><sup>{n}</sup></a>' for n in marks)
            else:
                body = e(label)
            cells.append(f'<td class="{e(c["status"].replace(" ", "-"))}" title="{e(c.get("reason", label))}">{body}</td>')
        kind = impl["verdict"] if impl["verdict"] in ("conforms", "FAILS") else "partly"
        rows.append(f'<tr class="{e(kind)}"><th><a href="#{anchor(impl["name"])}">{e(impl["name"])}</a></th>'
                    f'{"".join(cells)}'
                    f'<td class="verdict-{e(kind)}">{e(impl["verdict"])}</td></tr>')
    failures = []
    for impl in data["implementations"]:
        for f in fams:
            c = impl["cells"][f]
            if c["status"] != "fail":
                continue
            items = "".join(f'<li><code>{e(t["test"])}</code>: {e(t["reason"])}'
                            + "".join(f'<br><span class="small">{e(d)}</span>' for d in t.get("details") or [])
                            + f'<pre>{e(t["reproduce"] or "")}</pre></li>' for t in c["failures"])
            failures.append(f'<section id="{anchor(impl["name"], f)}"><h3>{e(impl["name"])} · {e(f)}</h3>'
                            f'<p>To reproduce, run in the directory the suite was run from:</p><ul>{items}</ul></section>')
    figs = []
    for key, caption in (("loss_curves", "Loss per step of each implementation's tutorial run (log scale)."),
                         ("trajectory_error", "Per step, the relative distance of each run's loss from the "
                                              "float64 oracle's from the same start (log scale).")):
        name = data["figures"].get("files", {}).get(key)
        if name:
            png = b64encode((outdir / name).read_bytes()).decode()
            figs.append(f'<figure id="{key}"><img alt="{e(caption)}" src="data:image/png;base64,{png}">'
                        f'<figcaption>{e(caption)} Also written as <code>{e(name)}</code>.</figcaption></figure>')
    if not figs and any(i.get("tutorial_run") for i in data["implementations"]):
        figs.append("<p>More rows than one axes can show apart: each row's own panel is above.</p>")
    if not figs:
        figs.append("<p>No tutorial runs in this session (the learning family did not run), so no figures.</p>")
    speed_html = ""
    if data["speed"]:
        lines = list(speed_lines(data["speed"], data.get("speed_gpu", ""), data.get("speed_budgets")))
        speed_html = (f'<h2>Speed</h2><pre id="speed">{e(chr(10).join(lines))}</pre>'
                      + "".join(f"<p>{e(g)}</p>" for g in data["speed_goals"]))
        name = data["figures"].get("files", {}).get("speed_sweep")
        if name:
            png = b64encode((outdir / name).read_bytes()).decode()
            speed_html += (f'<figure id="speed_sweep"><img alt="time per step and GFLOP/s against size" '
                           f'src="data:image/png;base64,{png}"><figcaption>Time per step and achieved rate '
                           f'against size. Also written as <code>{e(name)}</code>.</figcaption></figure>')
    timed = [i for i in data["implementations"] if i.get("time", {}).get("tests_s")]
    time_html = ""
    if timed:
        head = "".join(f"<th>{e(h)}</th>" for h in ("implementation", "in its tests", "inside its train", "calls",
                                                       "steps", "longest family"))
        body = []
        for i in timed:
            t = i["time"]
            longest, spent = max(t["families"].items(), key=lambda kv: kv[1]["tests_s"])
            body.append(f'<tr><th>{e(i["name"])}</th><td>{t["tests_s"]:.1f} s</td><td>{t["train_s"]:.1f} s</td>'
                        f'<td>{t["calls"]:,}</td><td>{t["steps"]:,}</td>'
                        f'<td>{e(longest)} {spent["tests_s"]:.1f} s</td></tr>')
        time_html = (f'<h2>Time</h2><p>Where each implementation\'s tests spent their time: inside its own '
                     f'<code>train</code>, or in the suite (the oracle, the checks).</p>'
                     f'<table id="time"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')
    verdicts = [i["verdict"] for i in data["implementations"]]
    others = (f'<p id="not-implementations">Not implementations (they define no <code>train</code>): '
              f'{e(", ".join(data["not_implementations"]))}</p>' if data.get("not_implementations") else "")
    summary = f'{sum(v.startswith("conforms") for v in verdicts)} of {len(verdicts)} implementations conform'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>Conformance report: {e(summary)}</title><style>{STYLE}</style></head>
<body>
<h1>Conformance report</h1>
<p id="summary">{e(summary)}. Written {e(data["created"])}.</p>
<table id="matrix"><thead><tr><th>implementation</th>{"".join(f"<th>{e(f)}</th>" for f in fams)}<th>verdict</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{"".join(f'<p class="small" id="skip-{n}"><sup>{n}</sup> {e(r)}</p>' for r, n in notes.items())}
{others}
<h2>Rows</h2>
<p>Each implementation's tutorial run, failures first: its loss beside the float64 oracle's from the same
start, and per step its distance from the oracle's loss (solid) with the bound rounding allows (dotted).</p>
{row_sections(data)}
<h2>Failures</h2>
{"".join(failures) or "<p>None.</p>"}
<h2>Tutorial runs</h2>
{"".join(figs)}
{speed_html}
{time_html}
<h2>Run</h2>
<pre>{e(chr(10).join(data["environment"]))}</pre>
</body></html>
"""

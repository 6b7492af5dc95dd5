"""`rnnlab report`: one self-contained HTML page comparing runs.

    html = report_html([read_run("runs/cmp/lstm"), read_run("runs/cmp/gru")])

The page holds everything inline (the data as JSON in a <script type="application/json">, the
script and the style in the page; no CDN, no request), so it opens from file:// offline and can
be mailed. It shows, for the runs in the order given:

- the command of each run (from run.json or config.json: reconstructed for `rnnlab train` and
  `rnnlab fit` runs) and a config diff: only the settings that differ, highlighted, the shared
  ones folded away;
- the training loss and the validation metric against the step, overlaid, drawn as inline SVG by
  a small script: hovering shows each run's value at the nearest step, clicking a legend entry
  hides or shows a run, a moving average smooths the training loss (long runs are averaged into
  at most 1,500 points before they are written);
- the samples a run logged at its evaluations (char-LM runs of `rnnlab train` log one each time);
- best and final figures: best and last validation score (and bits per character for nats), the
  last training loss, steps, wall time, status.

Every string from a run folder is escaped (HTML in the tables, JSON with <, > and & as \\u escapes
inside the script), and the script writes only text nodes, so a hostile folder cannot inject
markup.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
from pathlib import Path

from .. import __version__
from .folders import RunInfo, clock

MAX_POINTS = 1500  # training-loss points per run written into the page
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")


def run_names(infos: list[RunInfo]) -> list[str]:
    """Short, distinct names: the folder names, or the paths below the runs' common folder."""
    names = [info.path.name or str(info.path) for info in infos]
    if len(set(names)) == len(names):
        return names
    paths = [os.path.abspath(info.path) for info in infos]
    common = os.path.commonpath(paths) if len(paths) > 1 else os.path.dirname(paths[0])
    names = [os.path.relpath(p, common) for p in paths]
    return [n if names.count(n) == 1 else f"{n} ({k + 1})" for k, n in enumerate(names)]


def thin(points: list[tuple[int, float]], limit: int = MAX_POINTS) -> tuple[list[list], int]:
    """At most `limit` points: means of consecutive groups of k steps (at each group's last
    step), and k."""
    k = max(1, math.ceil(len(points) / limit))
    if k == 1:
        return [[s, v] for s, v in points], 1
    groups = (points[i : i + k] for i in range(0, len(points), k))
    return [[g[-1][0], sum(v for _, v in g) / len(g)] for g in groups], k


def config_diff(infos: list[RunInfo]) -> tuple[list[str], list[str]]:
    """(keys whose values differ between the runs, or that some run lacks; keys the same in all)."""
    keys = list(dict.fromkeys(k for info in infos for k in info.config))
    missing = object()
    differ, same = [], []
    for key in keys:
        values = [json.dumps(info.config.get(key, missing), sort_keys=True, default=str) for info in infos]
        (same if len(set(values)) == 1 and all(key in info.config for info in infos) else differ).append(key)
    return differ, same


def _value(value) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _figure(value: float | None, name: str = "") -> str:
    if value is None:
        return ""
    text = f"{value:.4f}"
    if name == "val_nats":
        text += f" ({value / math.log(2):.3f} bits)"
    return text


def report_data(infos: list[RunInfo]) -> dict:
    """What the page's script draws: per run its name, colour and curves."""
    runs = []
    for k, (info, name) in enumerate(zip(infos, run_names(infos))):
        train, every = thin(info.metrics.train)
        runs.append(
            {
                "name": name,
                "color": COLORS[k % len(COLORS)],
                "metric": info.metrics.score_name,
                "train": train,
                "every": every,
                "evals": [[s, v] for s, v in info.metrics.evals],
            }
        )
    return {"runs": runs}


def _script_json(data) -> str:
    """JSON safe inside <script>: no </script>, no <!--, no entity."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _table(head: list[str], rows: list[list[str]], classes: list[list[str]] | None = None) -> str:
    e = html.escape
    out = ["<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"]
    for r, cells in enumerate(rows):
        cls = classes[r] if classes else [""] * len(cells)
        out.append(
            "<tr>"
            + "".join(f'<td class="{c}">{e(x)}</td>' if c else f"<td>{e(x)}</td>" for x, c in zip(cells, cls))
            + "</tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def report_html(infos: list[RunInfo], title: str | None = None) -> str:
    """The page (see the module docstring) for runs read by rnnlab.runs.folders.read_run."""
    if not infos:
        raise ValueError("no runs to report on")
    e = html.escape
    names = run_names(infos)
    title = title or "rnnlab report: " + ", ".join(names)
    parts = [f"<h1>{e(title)}</h1>"]
    parts.append(
        f'<p class="meta">{len(infos)} run(s); written {e(time.strftime("%Y-%m-%d %H:%M"))} by rnnlab '
        f"{e(__version__)}. Hover a chart for values, click a run in the legend to hide or show it.</p>"
    )
    parts.append("<h2>Commands</h2>")
    for name, info in zip(names, infos):
        note = " (reconstructed from run.json)" if info.kind in ("lm", "fit") else ""
        command = info.command or "(not recorded)"
        parts.append(f'<p class="run">{e(name)} <span class="meta">{e(str(info.path))}{e(note)}</span></p>')
        parts.append(f"<pre>{e(command)}</pre>")
    differ, same = config_diff(infos)
    parts.append("<h2>Config diff</h2>")
    if len(infos) == 1:
        parts.append('<p class="meta">One run: its whole configuration is below.</p>')
        differ, same = [], list(infos[0].config)
    elif differ:
        rows = [[k] + [_value(i.config[k]) if k in i.config else "(absent)" for i in infos] for k in differ]
        parts.append(_table(["setting", *names], rows, [[""] + ["diff"] * len(infos) for _ in rows]))
    else:
        parts.append('<p class="meta">The runs have the same configuration.</p>')
    if same:
        rows = [[k, _value(infos[0].config[k])] for k in same]
        parts.append(f"<details><summary>{len(same)} setting(s) the same in all runs</summary>")
        parts.append(_table(["setting", "value"], rows) + "</details>")
    parts.append("<h2>Curves</h2>")
    parts.append('<div id="legend"></div>')
    parts.append(
        '<p class="controls"><label>training loss: moving average of <select id="smooth">'
        '<option value="1">1</option><option value="10" selected>10</option><option value="50">50</option>'
        '<option value="200">200</option></select> points</label></p>'
    )
    parts.append('<div class="chart" id="train-chart" data-title="training loss"></div>')
    parts.append('<div class="chart" id="eval-chart" data-title="validation"></div>')
    parts.append("<h2>Best and final</h2>")
    rows = []
    for name, info in zip(names, infos):
        m, best, final = info.metrics, info.best, info.final
        tail = [v for _, v in m.train[-max(1, len(m.train) // 20) :]]
        rows.append(
            [
                name,
                m.score_name if best else "",
                _figure(best[1], m.score_name) if best else "",
                f"{best[0]:,}" if best else "",
                _figure(final[1], m.score_name) if final else "",
                f"{sum(tail) / len(tail):.4f}" if tail else "",
                f"{m.last_step:,}",
                clock(info.wall),
                info.status,
            ]
        )
    head = ["run", "metric", "best", "at step", "final", "training loss (last 5%)", "steps", "wall", "status"]
    parts.append(_table(head, rows))
    parts.append("<h2>Samples</h2>")
    sampled = [(name, info) for name, info in zip(names, infos) if info.metrics.samples]
    if not sampled:
        parts.append(
            '<p class="meta">No run logged samples (char-LM runs of `rnnlab train` log one per evaluation).</p>'
        )
    for name, info in sampled:
        parts.append(f'<details open><summary class="run">{e(name)}: {len(info.metrics.samples)} sample(s)</summary>')
        parts.append('<table class="samples"><tr><th>step</th><th>sample</th></tr>')
        for step, text in info.metrics.samples:
            parts.append(f"<tr><td>{step:,}</td><td><pre>{e(text)}</pre></td></tr>")
        parts.append("</table></details>")
    body = "\n".join(parts)
    return PAGE.format(title=e(title), style=STYLE, body=body, data=_script_json(report_data(infos)), script=SCRIPT)


def write_report(infos: list[RunInfo], out, title: str | None = None) -> Path:
    """Write the page to `out` (atomically: a reader never sees half of it)."""
    out = Path(out)
    page = report_html(infos, title)  # before the file is touched
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
<script type="application/json" id="report-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
pre { background: #f6f6f6; padding: .4em .6em; white-space: pre-wrap; word-break: break-all; margin: .2em 0 .8em; }
table { border-collapse: collapse; margin: .4em 0; }
td, th { border: 1px solid #ddd; padding: .2em .5em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.diff { background: #fff3bf; font-weight: 600; }
.meta { color: #666; font-size: .9em; } .run { font-weight: 600; margin-bottom: 0; }
table.samples pre { margin: 0; background: none; padding: 0; }
#legend button { border: 1px solid #bbb; background: #fff; border-radius: 3px; margin: 0 .4em .3em 0;
  padding: .15em .6em; cursor: pointer; font: inherit; }
#legend button.off { opacity: .35; text-decoration: line-through; }
#legend .swatch { display: inline-block; width: 1.2em; height: .3em; vertical-align: middle; margin-right: .4em; }
.chart { position: relative; margin: .5em 0 1.2em; } .chart svg { width: 100%; height: auto; display: block; }
.chart .axis { stroke: #999; } .chart .grid { stroke: #eee; } .chart text { font-size: 11px; fill: #555; }
.chart .tip { position: absolute; pointer-events: none; background: rgba(255,255,255,.95); border: 1px solid #bbb;
  padding: .3em .5em; font-size: 12px; white-space: nowrap; display: none; }
"""

SCRIPT = r"""
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const hidden = new Set();
  const charts = [];
  const W = 900, H = 320, L = 64, R = 16, T = 24, B = 40;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(node);
    return node;
  }
  function fmt(v) {
    if (!isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    if (Number.isInteger(v)) return String(v);
    const text = v.toPrecision(5);
    return text.indexOf(".") < 0 ? text : text.replace(/0+$/, "").replace(/\.$/, "");
  }
  function ticks(lo, hi, n) {
    const span = hi - lo || Math.abs(hi) || 1, step0 = span / n;
    const mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= step0) || step0;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
    return out;
  }
  function smooth(points, k) {
    if (k <= 1) return points;
    const out = []; let sum = 0;
    for (let i = 0; i < points.length; i++) {
      sum += points[i][1];
      if (i >= k) sum -= points[i - k][1];
      out.push([points[i][0], sum / Math.min(i + 1, k)]);
    }
    return out;
  }
  function nearest(points, step) {
    let lo = 0, hi = points.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (points[mid][0] < step) lo = mid + 1; else hi = mid; }
    if (lo > 0 && Math.abs(points[lo - 1][0] - step) <= Math.abs(points[lo][0] - step)) lo -= 1;
    return points[lo];
  }

  function Chart(box, key, label) {
    const tip = document.createElement("div");
    tip.className = "tip";
    const svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img"});
    box.appendChild(svg);
    box.appendChild(tip);
    let scale = null, shown = [];
    function series() {
      const k = key === "train" ? Number(document.getElementById("smooth").value) : 1;
      return DATA.runs.map((run, i) => ({i: i, run: run, points: smooth(run[key], k)})).filter(s => s.points.length);
    }
    function draw() {
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      const all = series();
      shown = all.filter(s => !hidden.has(s.i));
      const title = el("text", {x: L, y: 14, "font-weight": "600"}, svg);
      const metrics = Array.from(new Set(shown.map(s => s.run.metric)));
      title.textContent = key === "train" ? label : label + (metrics.length ? " (" + metrics.join(", ") + ")" : "");
      if (!all.length) { el("text", {x: L, y: H / 2}, svg).textContent = "nothing logged"; scale = null; return; }
      const pts = (shown.length ? shown : all).flatMap(s => s.points);
      let x0 = Math.min(...pts.map(p => p[0])), x1 = Math.max(...pts.map(p => p[0]));
      let y0 = Math.min(...pts.map(p => p[1])), y1 = Math.max(...pts.map(p => p[1]));
      if (x1 === x0) { x0 -= 1; x1 += 1; }
      if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
      const pad = (y1 - y0) * 0.04; y0 -= pad; y1 += pad;
      const sx = v => L + (v - x0) / (x1 - x0) * (W - L - R), sy = v => H - B - (v - y0) / (y1 - y0) * (H - T - B);
      scale = {x0: x0, x1: x1, sx: sx, sy: sy};
      for (const v of ticks(y0, y1, 5)) {
        el("line", {x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid"}, svg);
        el("text", {x: L - 6, y: sy(v) + 4, "text-anchor": "end"}, svg).textContent = fmt(v);
      }
      for (const v of ticks(x0, x1, 6)) {
        el("text", {x: sx(v), y: H - B + 16, "text-anchor": "middle"}, svg).textContent = fmt(v);
      }
      el("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis"}, svg);
      el("line", {x1: L, x2: L, y1: T, y2: H - B, class: "axis"}, svg);
      el("text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle"}, svg).textContent = "step";
      for (const s of shown) {
        const d = s.points.map(p => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" ");
        el("polyline", {points: d, fill: "none", stroke: s.run.color, "stroke-width": key === "train" ? 1.3 : 2,
                        "data-run": s.i, class: "curve"}, svg);
        if (key !== "train" || s.points.length < 60) {
          for (const p of s.points) el("circle", {cx: sx(p[0]), cy: sy(p[1]), r: 2.5, fill: s.run.color}, svg);
        }
      }
      el("line", {class: "cursor", y1: T, y2: H - B, stroke: "#888", "stroke-dasharray": "3,3",
                  visibility: "hidden"}, svg);
    }
    svg.addEventListener("mousemove", function (event) {
      if (!scale || !shown.length) return;
      const box_ = svg.getBoundingClientRect();
      const x = (event.clientX - box_.left) / box_.width * W;
      const step = scale.x0 + (x - L) / (W - L - R) * (scale.x1 - scale.x0);
      const cursor = svg.querySelector(".cursor");
      cursor.setAttribute("x1", x); cursor.setAttribute("x2", x); cursor.setAttribute("visibility", "visible");
      while (tip.firstChild) tip.removeChild(tip.firstChild);
      for (const s of shown) {
        const p = nearest(s.points, step);
        const line = document.createElement("div");
        const mark = document.createElement("span");
        mark.textContent = "\u25a0 ";
        mark.style.color = s.run.color;
        line.appendChild(mark);
        const every = key === "train" && s.run.every > 1 ? " (mean of " + s.run.every + " steps)" : "";
        line.appendChild(document.createTextNode(s.run.name + ": " + fmt(p[1]) + " at step " + p[0] + every));
        tip.appendChild(line);
      }
      tip.style.display = "block";
      const left = (event.clientX - box_.left) + 14;
      tip.style.left = Math.min(left, box_.width - tip.offsetWidth - 4) + "px";
      tip.style.top = Math.max(0, event.clientY - box_.top - tip.offsetHeight - 8) + "px";
    });
    svg.addEventListener("mouseleave", function () {
      tip.style.display = "none";
      const cursor = svg.querySelector(".cursor");
      if (cursor) cursor.setAttribute("visibility", "hidden");
    });
    return {draw: draw};
  }

  const legend = document.getElementById("legend");
  DATA.runs.forEach(function (run, i) {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("data-run", i);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = run.color;
    button.appendChild(swatch);
    button.appendChild(document.createTextNode(run.name));
    button.addEventListener("click", function () {
      if (hidden.has(i)) hidden.delete(i); else hidden.add(i);
      button.classList.toggle("off", hidden.has(i));
      charts.forEach(c => c.draw());
    });
    legend.appendChild(button);
  });
  charts.push(Chart(document.getElementById("train-chart"), "train", "training loss"));
  charts.push(Chart(document.getElementById("eval-chart"), "evals", "validation"));
  document.getElementById("smooth").addEventListener("change", () => charts.forEach(c => c.draw()));
  charts.forEach(c => c.draw());
})();
"""

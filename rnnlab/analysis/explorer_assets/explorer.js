// rnnlab view: the explorer page's script. Everything it shows comes from the JSON in
// #explorer-data (rnnlab.analysis.explorer.page_data); nothing is fetched.
(function () {
  "use strict";

  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var TEXT = Array.from(D.text), CHARS = Array.from(D.chars); // by code point, as Python counts
  var T = TEXT.length;
  var SVG = "http://www.w3.org/2000/svg"; // a namespace name, never fetched
  var $ = function (id) { return document.getElementById(id); };

  // --- the activations: one byte per unit and character, each unit's own range ----------------
  var raw = atob(D.series);
  var bytes = new Uint8Array(raw.length);
  for (var b = 0; b < raw.length; b++) bytes[b] = raw.charCodeAt(b);
  function uint16(text) { // base64 of little-endian uint16 -> numbers
    var bin = atob(text), out = new Uint16Array(bin.length / 2);
    for (var k = 0; k < out.length; k++) out[k] = bin.charCodeAt(2 * k) | (bin.charCodeAt(2 * k + 1) << 8);
    return out;
  }
  var topIds = uint16(D.topIds), topProbs = uint16(D.topProbs);
  var known = new Uint8Array(T).fill(1);
  D.unknown.forEach(function (t) { known[t] = 0; });
  var rowOf = {}; // "group:unit" -> row of D.units
  D.units.forEach(function (u, row) { rowOf[u[0] + ":" + u[1]] = row; });

  function value(row, t) {
    var u = D.units[row];
    return u[2] + (bytes[row * T + t] / 255) * (u[3] - u[2]);
  }
  function group(row) { return D.groups[D.units[row][0]]; }
  function unitLabel(row) {
    var g = group(row);
    return g.layer + " \u00B7 " + (g.role === "gate" ? "gate " : "") + g.name + " \u00B7 unit " + D.units[row][1];
  }
  function rOf(hyp, row) { return D.hypotheses[hyp].r[D.units[row][0]][D.units[row][1]] || 0; }
  function fmt(x, digits) { return (x >= 0 ? "+" : "\u2212") + Math.abs(x).toFixed(digits); }
  function show(ch) {
    if (ch === "\n") return "\u21B5";
    if (ch === " ") return "\u2423";
    if (ch === "\t") return "\u21E5";
    return ch;
  }

  var state = { hyp: 0, row: 0, byHypothesis: false, layer: "all", name: "all", selection: null };

  // --- colours --------------------------------------------------------------------------------
  var css = getComputedStyle(document.documentElement);
  var NEG = css.getPropertyValue("--neg").trim(), POS = css.getPropertyValue("--pos").trim();
  var GATE = css.getPropertyValue("--gate").trim();
  function rgba(rgb, a) { return "rgba(" + rgb + "," + Math.max(0, Math.min(1, a)).toFixed(3) + ")"; }

  // a state diverges around 0 (scaled by its largest |value|); a gate runs from 0 to 1
  function scaleOf(row) {
    var u = D.units[row];
    if (group(row).role === "gate") return { kind: "gate", lo: 0, hi: 1 };
    var s = Math.max(Math.abs(u[2]), Math.abs(u[3])) || 1;
    return { kind: "diverging", lo: -s, hi: s };
  }
  function colour(v, scale) {
    if (scale.kind === "gate") return rgba(GATE, 0.85 * v);
    var a = v / scale.hi;
    return a >= 0 ? rgba(POS, 0.85 * a) : rgba(NEG, -0.85 * a);
  }

  // --- the text: one span per character ---------------------------------------------------------
  var spans = new Array(T);
  (function buildText() {
    var box = $("text"), frag = document.createDocumentFragment();
    for (var t = 0; t < T; t++) {
      var s = document.createElement("span");
      s.className = "ch" + (TEXT[t] === "\n" ? " nl" : "") + (known[t] ? "" : " unk");
      s.dataset.i = t;
      s.textContent = TEXT[t];
      spans[t] = s;
      frag.appendChild(s);
    }
    box.appendChild(frag);
  })();

  function paint() {
    var hyp = D.hypotheses[state.hyp];
    if (state.byHypothesis) {
      var max = 1;
      for (var j = 0; j < T; j++) max = Math.max(max, hyp.values[j]);
      for (var t = 0; t < T; t++) {
        var h = hyp.values[t] / max;
        spans[t].dataset.a = hyp.values[t];
        spans[t].style.backgroundColor = rgba(GATE, 0.7 * h);
      }
      $("shown").textContent = "hypothesis: " + hyp.title;
      $("shown-detail").textContent = hyp.binary ? "1 where it holds" : "0 to " + max;
      legend({ kind: "gate", lo: 0, hi: max });
      return;
    }
    var row = state.row, scale = scaleOf(row);
    for (var k = 0; k < T; k++) {
      var v = value(row, k);
      spans[k].dataset.a = v.toFixed(3);
      spans[k].style.backgroundColor = colour(v, scale);
    }
    $("shown").textContent = unitLabel(row);
    $("shown-detail").textContent = "r = " + fmt(rOf(state.hyp, row), 3) + " with \u201C" + hyp.title +
      "\u201D; range " + D.units[row][2].toFixed(3) + " \u2026 " + D.units[row][3].toFixed(3);
    legend(scale);
  }

  function legend(scale) {
    var bar = $("legend-bar");
    if (scale.kind === "diverging") {
      bar.style.background = "linear-gradient(to right, " + rgba(NEG, 0.85) + ", #fff, " + rgba(POS, 0.85) + ")";
    } else {
      bar.style.background = "linear-gradient(to right, #fff, " + rgba(GATE, 0.85) + ")";
    }
    $("legend-lo").textContent = (+scale.lo).toFixed(2);
    $("legend-hi").textContent = (+scale.hi).toFixed(2);
  }

  // --- hypotheses and the unit list -------------------------------------------------------------
  function ranked(hyp) {
    var rows = [];
    for (var row = 0; row < D.units.length; row++) {
      var g = group(row);
      if ((state.layer === "all" || g.layer === state.layer) && (state.name === "all" || g.name === state.name)) rows.push(row);
    }
    return rows.sort(function (a, b) { return Math.abs(rOf(hyp, b)) - Math.abs(rOf(hyp, a)) || a - b; });
  }

  function buildHypotheses() {
    var list = $("hypotheses");
    list.textContent = "";
    D.hypotheses.forEach(function (h, k) {
      var li = document.createElement("li");
      li.className = k === state.hyp ? "active" : "";
      li.dataset.hyp = k;
      var title = document.createElement("div");
      title.className = "hyp-title";
      title.textContent = h.title;
      var best = document.createElement("div");
      best.className = "hyp-best";
      var top = ranked(k).slice(0, 3), constant = top.every(function (row) { return rOf(k, row) === 0; });
      if (constant) {
        best.textContent = "constant over this text: no correlation to measure";
      } else {
        top.forEach(function (row, j) {
          var g = group(row);
          if (j) best.appendChild(document.createTextNode(", "));
          var tag = document.createElement("b");
          tag.textContent = g.layer + "/" + g.name + "#" + D.units[row][1];
          best.appendChild(tag);
          best.appendChild(document.createTextNode(" r " + fmt(rOf(k, row), 2)));
        });
      }
      li.appendChild(title);
      li.appendChild(best);
      li.addEventListener("click", function () { chooseHypothesis(k, true); });
      list.appendChild(li);
    });
  }

  var LIST_MAX = 300;
  function buildUnits() {
    var list = $("units"), rows = ranked(state.hyp);
    list.textContent = "";
    rows.slice(0, LIST_MAX).forEach(function (row) {
      var li = document.createElement("li"), r = rOf(state.hyp, row);
      li.className = row === state.row && !state.byHypothesis ? "active" : "";
      li.dataset.row = row;
      var name = document.createElement("span");
      name.textContent = unitLabel(row);
      var bar = document.createElement("span");
      bar.className = "rbar";
      var fill = document.createElement("i");
      fill.style.width = (100 * Math.abs(r)).toFixed(1) + "%";
      bar.appendChild(fill);
      var num = document.createElement("span");
      num.className = "r";
      num.textContent = "r " + fmt(r, 2);
      li.appendChild(name);
      li.appendChild(bar);
      li.appendChild(num);
      li.addEventListener("click", function () { showUnit(row); });
      list.appendChild(li);
    });
    var notes = [];
    if (rows.length > LIST_MAX) notes.push("the best " + LIST_MAX + " of " + rows.length + " shown; narrow with the filters");
    if (D.units.length < D.totalUnits) {
      notes.push(D.units.length + " of " + D.totalUnits + " units are in this page (those that best match some hypothesis; " +
        "a larger --max-mb or fewer --chars embeds more)");
    }
    $("unit-note").textContent = notes.join(". ");
  }

  function fillSelect(select, options, current) {
    select.textContent = "";
    options.forEach(function (o) {
      var opt = document.createElement("option");
      opt.value = o[0];
      opt.textContent = o[1];
      opt.selected = o[0] === current;
      select.appendChild(opt);
    });
  }
  function unique(values) { return values.filter(function (v, k) { return values.indexOf(v) === k; }); }

  function chooseHypothesis(k, pickBest) {
    state.hyp = k;
    if (pickBest && !state.byHypothesis) {
      var rows = ranked(k);
      if (rows.length) state.row = rows[0];
    }
    buildHypotheses();
    buildUnits();
    paint();
  }

  function showUnit(row) {
    state.row = row;
    state.byHypothesis = false;
    $("colour-hypothesis").checked = false;
    buildUnits();
    paint();
    markSaturation();
    if (state.selection) selectSpan(state.selection[0], state.selection[1]);
  }

  // --- hovering: the model's predictions after this character -----------------------------------
  var box = $("predictions"), hovered = null;
  function predict(t) {
    $("pred-context").textContent = TEXT.slice(Math.max(0, t - 15), t + 1).join("").replace(/\n/g, "\u21B5");
    var rows = $("pred-rows"), next = t + 1 < T ? TEXT[t + 1] : null;
    rows.textContent = "";
    for (var k = 0; k < D.top; k++) {
      var ch = CHARS[topIds[t * D.top + k]], p = topProbs[t * D.top + k] / D.probScale;
      var tr = document.createElement("tr");
      if (ch === next) tr.className = "actual";
      var c = document.createElement("td");
      c.className = "c";
      c.textContent = show(ch);
      var bar = document.createElement("td");
      var pb = document.createElement("div");
      pb.className = "pbar";
      var fill = document.createElement("i");
      fill.style.width = (100 * p).toFixed(1) + "%";
      pb.appendChild(fill);
      bar.appendChild(pb);
      var num = document.createElement("td");
      num.className = "p";
      num.textContent = (100 * p).toFixed(1) + "%";
      tr.appendChild(c);
      tr.appendChild(bar);
      tr.appendChild(num);
      rows.appendChild(tr);
    }
    var actual = $("pred-actual"), loss = D.loss[t];
    if (next === null) actual.textContent = "the last character: nothing follows";
    else if (loss === null) actual.textContent = "next: \u201C" + show(next) + "\u201D, outside the vocabulary (no loss)";
    else {
      actual.textContent = "next: \u201C" + show(next) + "\u201D, loss " + loss.toFixed(3) + " nats (" +
        (loss / Math.LN2).toFixed(2) + " bits)";
    }
    $("pred-unit").textContent = state.byHypothesis ? "" : unitLabel(state.row) + ": " + value(state.row, t).toFixed(3);
  }
  function place(span) {
    var r = span.getBoundingClientRect(), w = box.offsetWidth, h = box.offsetHeight;
    var x = Math.min(window.innerWidth - w - 8, Math.max(8, r.left - w / 2));
    var y = r.bottom + 6 + h > window.innerHeight ? r.top - h - 6 : r.bottom + 6;
    box.style.left = x + "px";
    box.style.top = Math.max(8, y) + "px";
  }
  $("text").addEventListener("mouseover", function (e) {
    var span = e.target.closest ? e.target.closest(".ch") : null;
    if (!span) return;
    if (hovered) hovered.classList.remove("hover");
    hovered = span;
    span.classList.add("hover");
    predict(+span.dataset.i);
    box.hidden = false;
    place(span);
  });
  $("text").addEventListener("mouseleave", function () {
    box.hidden = true;
    if (hovered) hovered.classList.remove("hover");
    hovered = null;
  });

  // --- LSTMVis's move: the units on over a selected span, and every other span where they are ---
  function threshold() { return +$("threshold").value; }
  function clearMarks() {
    for (var t = 0; t < T; t++) spans[t].classList.remove("match", "picked");
  }
  function selectSpan(a, b) {
    a = Math.max(0, Math.min(a, b));
    b = Math.min(T - 1, Math.max(a, b));
    state.selection = [a, b];
    clearMarks();
    var g = group(state.row), theta = threshold(), around = $("off-around").checked, on = [];
    for (var row = 0; row < D.units.length; row++) {
      if (group(row) !== g) continue;
      var all = true;
      for (var t = a; t <= b && all; t++) all = value(row, t) >= theta;
      if (all && around) all = (a === 0 || value(row, a - 1) < theta) && (b === T - 1 || value(row, b + 1) < theta);
      if (all) on.push(row);
    }
    var matches = [];
    if (on.length) {
      var start = -1;
      for (var k = 0; k <= T; k++) {
        var lit = k < T && on.every(function (r) { return value(r, k) >= theta; });
        if (lit && start < 0) start = k;
        if (!lit && start >= 0) { matches.push([start, k - 1]); start = -1; }
      }
      matches.forEach(function (m) { for (var t = m[0]; t <= m[1]; t++) spans[t].classList.add("match"); });
    }
    for (var p = a; p <= b; p++) spans[p].classList.add("picked");
    describeSelection(a, b, g, on, matches);
    return { units: on.map(function (row) { return D.units[row][1]; }), matches: matches };
  }

  function describeSelection(a, b, g, on, matches) {
    var out = $("selection");
    out.textContent = "";
    out.classList.remove("muted");
    var head = document.createElement("div");
    head.textContent = "Span " + a + "\u2013" + b + " (" + (b - a + 1) + " characters), among " + g.layer + " \u00B7 " + g.name + ":";
    out.appendChild(head);
    if (!on.length) {
      var none = document.createElement("div");
      none.className = "muted";
      none.textContent = "no unit stays above " + threshold().toFixed(2) + " over the whole span" +
        ($("off-around").checked ? " and below it just before and after" : "") +
        "; lower the threshold, select another span or untick \u201Coff just before and after\u201D.";
      out.appendChild(none);
      return;
    }
    var units = document.createElement("div");
    units.textContent = on.length + " unit" + (on.length > 1 ? "s" : "") + " on:";
    out.appendChild(units);
    var chips = document.createElement("div");
    chips.className = "chips";
    on.slice(0, 40).forEach(function (row) {
      var chip = document.createElement("span");
      chip.className = "chip";
      chip.textContent = "#" + D.units[row][1];
      chip.title = unitLabel(row);
      chip.addEventListener("click", function () { showUnit(row); });
      chips.appendChild(chip);
    });
    out.appendChild(chips);
    var others = matches.filter(function (m) { return m[1] < a || m[0] > b; });
    var count = document.createElement("div");
    count.textContent = others.length + " other span" + (others.length === 1 ? "" : "s") + " where all of them are on (marked in the text):";
    out.appendChild(count);
    var list = document.createElement("ol");
    list.className = "matches";
    others.sort(function (x, y) { return (y[1] - y[0]) - (x[1] - x[0]) || x[0] - y[0]; });
    others.slice(0, 50).forEach(function (m) {
      var li = document.createElement("li"), code = document.createElement("code");
      code.textContent = TEXT.slice(m[0], m[1] + 1).join("").replace(/\n/g, "\u21B5").slice(0, 40);
      li.appendChild(code);
      li.appendChild(document.createTextNode(" at " + m[0]));
      li.addEventListener("click", function () { spans[m[0]].scrollIntoView({ block: "center" }); });
      list.appendChild(li);
    });
    out.appendChild(list);
  }

  $("text").addEventListener("mouseup", function () {
    var sel = window.getSelection();
    if (!sel || sel.isCollapsed) return;
    var ends = [sel.anchorNode, sel.focusNode].map(function (n) {
      var el = n && (n.nodeType === 1 ? n : n.parentElement);
      return el && el.closest ? el.closest(".ch") : null;
    });
    if (ends[0] && ends[1]) selectSpan(+ends[0].dataset.i, +ends[1].dataset.i);
  });
  $("threshold").addEventListener("input", function () {
    $("threshold-value").textContent = threshold().toFixed(2);
    if (state.selection) selectSpan(state.selection[0], state.selection[1]);
  });
  $("off-around").addEventListener("change", function () {
    if (state.selection) selectSpan(state.selection[0], state.selection[1]);
  });

  // --- gate saturation: Karpathy et al.'s scatter -----------------------------------------------
  var PALETTE = ["#2f6fb0", "#d1495b", "#2a9d8f", "#e9a03b", "#7a5195", "#6b8e23"];
  function drawSaturation() {
    var holder = $("saturation"), layer = $("saturation-layer").value;
    holder.textContent = "";
    if (!D.saturation.length) {
      holder.textContent = "This cell has no gates.";
      holder.className = "muted small";
      return;
    }
    var W = 300, P = 34, S = W - P - 10;
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 " + W + " " + (W + 26));
    function el(name, attrs, parent) {
      var e = document.createElementNS(SVG, name);
      Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
      (parent || svg).appendChild(e);
      return e;
    }
    var X = function (f) { return P + f * S; }, Y = function (f) { return 10 + (1 - f) * S; };
    for (var q = 0; q <= 4; q++) {
      el("line", { x1: X(q / 4), x2: X(q / 4), y1: Y(0), y2: Y(1), "class": "grid" });
      el("line", { x1: X(0), x2: X(1), y1: Y(q / 4), y2: Y(q / 4), "class": "grid" });
      el("text", { x: X(q / 4), y: Y(0) + 13, "text-anchor": "middle" }).textContent = q / 4;
      el("text", { x: P - 5, y: Y(q / 4) + 3, "text-anchor": "end" }).textContent = q / 4;
    }
    el("line", { x1: X(0), x2: X(1), y1: Y(1), y2: Y(0), "class": "edge" });
    el("line", { x1: X(0), x2: X(1), y1: Y(0), y2: Y(0), "class": "axis" });
    el("line", { x1: X(0), x2: X(0), y1: Y(0), y2: Y(1), "class": "axis" });
    el("text", { x: X(0.5), y: Y(0) + 27, "text-anchor": "middle" }).textContent = "fraction left-saturated (< 0.1)";
    el("text", { x: 10, y: Y(0.5), "text-anchor": "middle", transform: "rotate(-90 10 " + Y(0.5) + ")" }).textContent =
      "fraction right-saturated (> 0.9)";
    var gates = unique(D.saturation.map(function (s) { return s.gate; }));
    D.saturation.forEach(function (s) {
      if (layer !== "all" && s.layer !== layer) return;
      var g = D.groups.findIndex(function (x) { return x.layer === s.layer && x.name === s.gate; });
      s.left.forEach(function (left, unit) {
        var c = el("circle", { cx: X(left), cy: Y(s.right[unit]), r: 2.6, fill: PALETTE[gates.indexOf(s.gate) % PALETTE.length] });
        c.dataset.key = g + ":" + unit;
        el("title", {}, c).textContent = s.layer + " gate " + s.gate + " unit " + unit + ": " +
          (100 * left).toFixed(0) + "% < 0.1, " + (100 * s.right[unit]).toFixed(0) + "% > 0.9";
        c.addEventListener("click", function () {
          var row = rowOf[g + ":" + unit];
          if (row !== undefined) showUnit(row);
        });
      });
    });
    gates.forEach(function (gate, k) {
      el("circle", { cx: X(0.62), cy: 18 + 13 * k, r: 4, fill: PALETTE[k % PALETTE.length] });
      el("text", { x: X(0.62) + 8, y: 21 + 13 * k }).textContent = "gate " + gate;
    });
    holder.appendChild(svg);
    markSaturation();
  }
  function markSaturation() {
    var key = D.units[state.row][0] + ":" + D.units[state.row][1];
    Array.prototype.forEach.call(document.querySelectorAll("#saturation circle[data-key]"), function (c) {
      c.classList.toggle("active", c.dataset.key === key);
    });
  }

  // --- start --------------------------------------------------------------------------------------
  var layers = unique(D.groups.map(function (g) { return g.layer; }));
  var names = unique(D.groups.map(function (g) { return g.name; }));
  fillSelect($("layer-filter"), [["all", "all"]].concat(layers.map(function (l) { return [l, l]; })), "all");
  fillSelect($("name-filter"), [["all", "all"]].concat(names.map(function (n) { return [n, n]; })), "all");
  fillSelect($("saturation-layer"), [["all", "all"]].concat(layers.map(function (l) { return [l, l]; })), "all");
  $("layer-filter").addEventListener("change", function (e) { state.layer = e.target.value; buildUnits(); });
  $("name-filter").addEventListener("change", function (e) { state.name = e.target.value; buildUnits(); });
  $("saturation-layer").addEventListener("change", drawSaturation);
  $("colour-hypothesis").addEventListener("change", function (e) {
    state.byHypothesis = e.target.checked;
    buildUnits();
    paint();
  });

  var m = D.meta || {};
  $("summary").textContent = [
    D.description,
    T.toLocaleString("en") + " characters",
    D.meanLoss === null ? "" : "mean loss " + D.meanLoss.toFixed(3) + " nats (" + (D.meanLoss / Math.LN2).toFixed(3) + " bits) per character",
    m.kind ? m.kind + ", " + m.layers + " \u00D7 " + m.hidden : "",
  ].filter(Boolean).join(" \u00B7 ");

  // open on the hypothesis that some unit matches best, showing that unit
  var opening = 0, bestR = -1;
  D.hypotheses.forEach(function (h, k) {
    var top = ranked(k)[0];
    if (top !== undefined && Math.abs(rOf(k, top)) > bestR) { bestR = Math.abs(rOf(k, top)); opening = k; }
  });
  chooseHypothesis(opening, true);
  drawSaturation();

  // for scripts and tests: the page's state and its moves
  window.explorer = {
    data: D,
    value: value,
    state: state,
    showUnit: showUnit,
    rowOf: function (groupIndex, unit) { return rowOf[groupIndex + ":" + unit]; },
    chooseHypothesis: chooseHypothesis,
    selectSpan: selectSpan,
    ready: true,
  };
})();

/* Charter's web view: renders what /api returns. No decision is made here: verdicts, reasons and their text
   come from the server (charter.policy.explain, the same text the CLI prints). User text is set as text. */
"use strict";
(function () {
  const main = document.getElementById("main");
  const params = new URLSearchParams(location.search);
  const KINDS = ["dataset", "model", "application", "compute"];

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const k of kids.flat(Infinity)) {
      if (k === undefined || k === null || k === false) continue;
      e.append(k instanceof Node ? k : String(k));
    }
    return e;
  }

  /* append children, skipping null/false and flattening arrays (Node.append would write "null") */
  function add(parent, ...kids) {
    for (const k of kids.flat(Infinity)) if (k !== undefined && k !== null && k !== false) parent.append(k instanceof Node ? k : String(k));
    return parent;
  }

  async function api(path, query) {
    const u = new URL(path, location.origin);
    for (const [k, v] of Object.entries(query || {})) {
      if (Array.isArray(v)) v.forEach((x) => u.searchParams.append(k, x));
      else if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
    }
    const r = await fetch(u);
    const j = await r.json();
    if (!r.ok) {
      const msg = j.message ? j.message + (j.hint ? ` (fix: ${j.hint})` : "") : JSON.stringify(j.detail || j);
      throw new Error(msg);
    }
    return j;
  }

  const assetHref = (id) => "/asset?ref=" + encodeURIComponent(id);
  const assetLink = (id) => el("a", { href: assetHref(id) }, id);
  const badge = (cls, text) => el("span", { class: "badge " + cls }, text || cls);
  const section = (title, ...kids) => el("section", { "aria-label": title }, el("h2", {}, title), ...kids);
  const fmt = (x) => (typeof x === "number" ? (Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toLocaleString("en") : String(Number(x.toPrecision(4)))) : x);
  const origin = (x, asked) => (x.asset === asked ? "its own" : "via " + x.path.join(" → "));
  function fail(where, e) {
    add(where, el("p", { class: "error", role: "alert" }, "Error: " + e.message));
  }
  function table(head, rows) {
    return el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))));
  }

  /* ---------- the lineage graph (Cytoscape.js), with a list of the same nodes for keyboards and screen readers ---------- */
  const COLOURS = { dataset: "#8250df", model: "#0969da", application: "#1a7f37", compute: "#bf8700" };
  const STYLE = [
    { selector: "node", style: { label: "data(label)", "font-size": 9, "text-valign": "bottom", "text-margin-y": 3, "text-wrap": "wrap",
      "text-max-width": 140, width: 22, height: 22, "background-color": (n) => COLOURS[n.data("kind")] || "#8c959f",
      "border-width": 1, "border-color": "#fff" } },
    { selector: "node[?root]", style: { width: 32, height: 32, "font-weight": "bold", "font-size": 11 } },
    { selector: "node[!registered]", style: { "background-color": "#d0d7de", shape: "round-rectangle" } },
    { selector: "node[?denied]", style: { "border-width": 4, "border-color": "#cf222e" } },
    { selector: "node[?restricted]", style: { "border-width": 4, "border-color": "#bf8700", "border-style": "dashed" } },
    { selector: "node[?withdrawn]", style: { "background-color": "#b3261e", shape: "octagon", "border-width": 4, "border-color": "#5c0f0b" } },
    { selector: "node.more", style: { shape: "round-rectangle", "background-color": "#eaeef2", "border-color": "#8c959f", "border-width": 1,
      width: 60, height: 16, "text-valign": "center", "text-margin-y": 0, color: "#24292f" } },
    { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#8c959f",
      "target-arrow-color": "#8c959f", label: "data(relation)", "font-size": 7, "text-rotation": "autorotate", color: "#57606a",
      "text-background-color": "#fff", "text-background-opacity": 0.8 } },
    { selector: "edge[!propagates]", style: { "line-style": "dashed" } },
    { selector: "edge.more", style: { label: "", "line-style": "dotted" } },
    { selector: ".faded", style: { opacity: 0.25 } },
    { selector: "node.hl", style: { "border-width": 6, "border-color": "#fb8c00", opacity: 1 } },
    { selector: "edge.hl", style: { width: 5, "line-color": "#fb8c00", "target-arrow-color": "#fb8c00", opacity: 1, "font-size": 9 } },
  ];

  function Graph(host, opts) {
    const self = { nodes: new Map(), edges: new Map(), opts };
    const up = el("select", { id: "graph-up" }, [0, 1, 2, 3, 5, 1000].map((d) => el("option", { value: d, selected: d === opts.up }, d === 1000 ? "any" : d)));
    const down = el("select", { id: "graph-down" }, [0, 1, 2, 3, 5, 1000].map((d) => el("option", { value: d, selected: d === opts.down }, d === 1000 ? "any" : d)));
    const status = el("p", { class: "muted", "aria-live": "polite", id: "graph-status" });
    const box = el("div", { class: "graph", id: "graph", role: "img", "aria-label": "Lineage graph; the list beside it has the same assets" });
    const list = el("div", { class: "graph-list", id: "graph-list" });
    const info = el("p", { class: "muted", id: "graph-selected" });
    const legend = el("p", { class: "legend" }, Object.entries(COLOURS).map(([k, c]) => el("span", {}, el("span", { class: "swatch", style: "background:" + c }), k)),
      el("span", {}, "red octagon: withdrawn"), el("span", {}, "dashed amber ring: restricted"), el("span", {}, "red ring: denied for the uses asked"),
      el("span", {}, "dashed edge: does not propagate"));
    add(host, 
      el("div", {}, el("label", {}, "Upstream hops", up), el("label", {}, "Downstream hops", down),
        el("button", { type: "button", id: "graph-reload", onclick: () => self.load() }, "Show lineage")),
      status, el("div", { class: "graph-wrap" }, box, list), info, legend);
    self.cy = cytoscape({ container: box, style: STYLE, minZoom: 0.1, maxZoom: 3, boxSelectionEnabled: false });
    self.cy.on("tap", "node", (ev) => {
      const n = ev.target;
      if (n.hasClass("more")) return self.expand(n.data("of"), n.data("dir"));
      info.replaceChildren("Selected: ", assetLink(n.id()));
    });

    self.load = async function () {
      self.opts.up = +up.value;
      self.opts.down = +down.value;
      self.nodes.clear();
      self.edges.clear();
      status.textContent = "Loading…";
      try {
        const g = await api("/api/graph", { ref: opts.ref, up: self.opts.up, down: self.opts.down, limit: opts.limit, uses: opts.uses || [] });
        self.merge(g);
        const shown = g.nodes.length;
        status.textContent = `${shown} assets shown of ${g.total.up} upstream and ${g.total.down} downstream (hops ${fmtHops(g.up)} up, ${fmtHops(g.down)} down; at most ${g.limit} at once: the rest are collapsed, expand them from the graph or the list)`;
        return g;
      } catch (e) {
        status.textContent = "";
        fail(host, e);
      }
    };
    const fmtHops = (d) => (d >= 1000 ? "any" : d);

    self.expand = async function (id, dir) {
      const g = await api("/api/graph", { ref: id, up: dir === "up" ? 1 : 0, down: dir === "down" ? 1 : 0, uses: opts.uses || [] });
      g.nodes.forEach((n) => { if (n.id === id) n.side = self.nodes.get(id)?.side || n.side; });
      self.merge(g, true);
      status.textContent = `Expanded ${dir}stream of ${id}: ${self.nodes.size} assets shown`;
    };

    self.merge = function (g, partial) {
      for (const n of g.nodes) {
        const old = self.nodes.get(n.id);
        if (old) { n.hidden_up = Math.min(old.hidden_up, n.hidden_up); n.hidden_down = Math.min(old.hidden_down, n.hidden_down); n.side = old.side; }
        if (partial && n.id === g.asset && old) n.root = old.root; else n.root = !partial && n.id === g.asset;
        if (old && old.root) n.root = true;
        self.nodes.set(n.id, n);
      }
      for (const e of g.edges) self.edges.set(`${e.source}|${e.target}|${e.relation}`, e);
      self.draw();
    };

    self.draw = function () {
      const els = [];
      for (const n of self.nodes.values()) {
        els.push({ group: "nodes", data: { id: n.id, label: n.id, kind: n.kind, root: !!n.root, registered: n.registered, withdrawn: n.withdrawn,
          restricted: n.restricted, denied: !!n.denied } });
        for (const dir of ["up", "down"]) {
          const k = n["hidden_" + dir];
          if (!k) continue;
          const mid = `more-${dir}:${n.id}`;
          els.push({ group: "nodes", classes: "more", data: { id: mid, label: `+${k} ${dir}stream`, of: n.id, dir } });
          els.push({ group: "edges", classes: "more", data: { id: "e-" + mid, source: dir === "up" ? mid : n.id, target: dir === "up" ? n.id : mid, propagates: true } });
        }
      }
      for (const [id, e] of self.edges) els.push({ group: "edges", data: { id, source: e.source, target: e.target, relation: e.relation, propagates: e.propagates } });
      self.cy.elements().remove();
      self.cy.add(els);
      self.cy.layout({ name: "breadthfirst", directed: true, spacingFactor: 1.1, padding: 20, animate: false }).run();
      self.renderList();
      box.dataset.nodes = String(self.nodes.size);
    };

    self.renderList = function () {
      const groups = { root: [], up: [], down: [] };
      for (const n of self.nodes.values()) (groups[n.root ? "root" : n.side] || groups.up).push(n);
      const item = (n) => el("li", { "data-id": n.id }, assetLink(n.id),
        n.withdrawn && badge("withdrawn"), n.restricted && badge("restricted"), n.denied && badge("denied"),
        n.hidden_up > 0 && el("button", { type: "button", class: "expand", onclick: () => self.expand(n.id, "up") }, `+${n.hidden_up} upstream`),
        n.hidden_down > 0 && el("button", { type: "button", class: "expand", onclick: () => self.expand(n.id, "down") }, `+${n.hidden_down} downstream`));
      list.replaceChildren(...[
        el("h3", {}, "Asked"), el("ul", {}, groups.root.map(item)),
        groups.up.length ? [el("h3", {}, `Upstream (${groups.up.length})`), el("ul", {}, groups.up.map(item))] : [],
        groups.down.length ? [el("h3", {}, `Downstream (${groups.down.length})`), el("ul", {}, groups.down.map(item))] : []].flat());
    };

    /* a reason's lineage path: asked asset ... imposing asset (each step an edge parent -> child) */
    self.highlight = function (path) {
      const cy = self.cy;
      cy.elements().removeClass("hl").addClass("faded");
      path.forEach((id, i) => {
        cy.getElementById(id).removeClass("faded").addClass("hl");
        if (i + 1 < path.length) cy.edges(`[source = "${cssq(path[i + 1])}"][target = "${cssq(id)}"]`).removeClass("faded").addClass("hl");
      });
      for (const li of list.querySelectorAll("li[data-id]")) li.classList.toggle("active", path.includes(li.dataset.id));
      box.dataset.highlighted = cy.$("node.hl").map((n) => n.id()).join(" ");
      box.dataset.highlightedEdges = String(cy.$("edge.hl").length);
    };
    self.clear = () => { self.cy.elements().removeClass("hl faded"); box.dataset.highlighted = ""; };
    const cssq = (s) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
    return self;
  }

  /* ---------- search ---------- */
  function pageSearch() {
    const q = el("input", { id: "q", type: "search", value: params.get("q") || "", autocomplete: "off", "aria-controls": "results", autofocus: true });
    const kind = el("select", { id: "kind" }, el("option", { value: "" }, "any"), KINDS.map((k) => el("option", { value: k, selected: params.get("kind") === k }, k)));
    const lic = el("input", { id: "license", type: "search", value: params.get("license") || "", autocomplete: "off" });
    const allowed = el("input", { id: "allowed", type: "search", value: params.get("allowed") || "", placeholder: "e.g. fine-tuning,commercial", autocomplete: "off" });
    const state = el("select", { id: "state" }, ["", "withdrawn", "restricted"].map((s) => el("option", { value: s, selected: params.get("state") === s }, s || "any")));
    const count = el("p", { id: "count", class: "muted", "aria-live": "polite" });
    const results = el("ul", { id: "results", class: "results" });
    add(main, el("form", { role: "search", onsubmit: (e) => e.preventDefault() },
      el("label", {}, "Id or name", q), el("label", {}, "Kind", kind), el("label", {}, "Licence", lic),
      el("label", {}, "Allowed for uses", allowed), el("label", {}, "State", state)), count, results);
    let seq = 0, timer = null;
    async function run() {
      const mine = ++seq;
      const query = { q: q.value, kind: kind.value, license: lic.value, allowed: allowed.value, state: state.value };
      const u = new URLSearchParams(Object.entries(query).filter(([, v]) => v));
      history.replaceState(null, "", u.toString() ? "/?" + u : "/");
      try {
        const r = await api("/api/ls", query);
        if (mine !== seq) return; // an older answer arriving late
        count.textContent = r.total === 0 ? "No assets match." : r.total > r.assets.length ? `${r.total} assets match; the first ${r.assets.length} are listed.` : `${r.total} assets match.`;
        results.replaceChildren(...r.assets.map((a) => el("li", {}, assetLink(a.id), el("span", { class: "muted" }, `  ${a.kind} · ${a.licenses.join(", ") || "no licence"}`),
          a.withdrawn && badge("withdrawn"))));
      } catch (e) {
        if (mine === seq) { count.textContent = "Error: " + e.message; results.replaceChildren(); }
      }
    }
    const soon = () => { clearTimeout(timer); timer = setTimeout(run, 120); };
    for (const x of [q, lic, allowed]) x.addEventListener("input", soon);
    for (const x of [kind, state]) x.addEventListener("change", run);
    run();
  }

  /* ---------- asset page ---------- */
  async function pageAsset() {
    const ref = params.get("ref");
    if (!ref) return add(main, el("p", {}, "Choose an asset on the ", el("a", { href: "/" }, "search page"), "."));
    let s, v;
    try {
      [s, v] = await Promise.all([api("/api/show", { ref }), api("/api/verdicts", { ref })]);
    } catch (e) { return fail(main, e); }
    const a = s.asset, eff = s.effective, id = a.id;
    document.title = id + " · Charter";
    main.querySelector("h1").textContent = id;
    add(main, 
      a.description ? el("p", {}, a.description) : null,
      el("p", {}, `Kind: ${a.kind}. Licence: ${a.licenses.join(", ") || "none"}. `, el("span", { class: "muted" }, s.hash)),
      el("p", {}, el("a", { href: "/can?ref=" + encodeURIComponent(id), id: "ask-link" }, "Can I use this for…?"), " · ",
        el("a", { href: "/impact?ref=" + encodeURIComponent(id) }, "Withdrawal impact"), " · ",
        el("a", { href: "/api/card?ref=" + encodeURIComponent(id) }, "Card (JSON)")),
      s.withdrawn && el("p", { class: "banner", role: "status" }, `Withdrawn ${s.withdrawn.time.slice(0, 10)}: ${s.withdrawn.reason}`));
    // properties: the latest evaluation of each metric (the list is oldest first)
    const latest = new Map();
    for (const p of s.properties) latest.set(p.benchmark + "." + p.metric, p);
    add(main, section("Properties", latest.size ? table(["property", "value", "95% CI", "n", "benchmark version", "evaluated"],
      [...latest.entries()].sort().map(([k, p]) => [k, fmt(p.value), p.ci ? `[${fmt(p.ci[0])}, ${fmt(p.ci[1])}]` : "–", fmt(p.n), p.version, p.time.slice(0, 10)]))
      : el("p", { class: "muted" }, "No evaluated properties."), latest.size ? propertyChart([...latest.entries()].sort()) : null));
    // uses: each judged alone; where each blocking rule comes from
    const facets = new Map();
    for (const u of v.uses) { if (!facets.has(u.facet)) facets.set(u.facet, []); facets.get(u.facet).push(u); }
    const permitted = el("ul", { id: "permitted" }, [...facets].map(([f, us]) => {
      const ok = us.filter((u) => u.permitted);
      return el("li", {}, el("strong", {}, f + ": "), ok.length === us.length ? "every use" : ok.length ? ok.map((u) => u.use + (u.conditional ? " (on condition)" : "")).join(", ") : "none");
    }));
    const rows = [];
    for (const u of v.uses) for (const w of u.why) rows.push([u.use, w.rule + (w.entries.length ? " " + w.entries.join(", ") : ""), `${w.source} of `, assetLink(w.asset), origin(w, id)]);
    add(main, section("Uses", el("p", { class: "muted" }, "Each use of the taxonomy judged alone (ask for combinations on the ", el("a", { href: "/can?ref=" + encodeURIComponent(id) }, "Can I use this for…?"), " page)."),
      el("h3", {}, "Permitted"), permitted, el("h3", {}, "Prohibited"),
      rows.length ? el("table", { id: "prohibited" }, el("thead", {}, el("tr", {}, ["use", "rule", "source", "asset", "where"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows.map((r) => el("tr", {}, el("td", {}, r[0]), el("td", {}, r[1]), el("td", {}, r[2]), el("td", {}, r[3]), el("td", {}, r[4])))))
        : el("p", {}, "Nothing along its lineage prohibits a use.")));
    if (eff.conditions.length) add(main, section("Conditions", el("ul", {}, eff.conditions.map((c) => el("li", {}, `${c.use} only if ${c.text} (${c.id}; ${c.source} of ${c.asset}${c.cite ? "; " + c.cite : ""})`)))));
    if (eff.requires.length) add(main, section("Property requirements", table(["use", "requirement", "status", "set by"], eff.requires.map((r) => [r.use,
      `${r.benchmark}.${r.metric}` + ["min", "max", "abs_max", "min_n"].filter((k) => k in r).map((k) => ` ${k} ${r[k]}`).join(""),
      el("span", {}, badge(r.status === "met" ? "permitted" : r.status === "unmet" ? "prohibited" : "conditional", r.status), r.value !== null ? " " + fmt(r.value) : ""),
      el("span", {}, assetLink(r.asset), " ", origin(r, id))]))));
    add(main, section("Duties", eff.duties.length ? el("ul", {}, eff.duties.map((d) => el("li", {}, el("strong", {}, d.duty), ` owed to ${d.asset} (${d.source}${d.cite ? "; " + d.cite : ""})`, d.text ? ": " + d.text : "")))
      : el("p", {}, "None.")));
    const wr = s.withdrawn_records, cur = a.notes && a.notes.curation;
    add(main, section("Data consent",
      cur ? el("p", {}, `Curated for ${cur.uses.join(", ")}: ${fmt(cur.output)} of ${fmt(cur.input)} records kept.`) : null,
      cur ? el("ul", {}, Object.entries(cur.excluded).map(([k, n]) => el("li", {}, `${fmt(n)} excluded: ${k}` + signalWhen(cur, k)))) : null,
      wr.records ? el("p", { class: "banner" }, `${fmt(wr.records)} records in its lineage belong to ${fmt(wr.owners)} owners who withdrew consent; ${wr.excluded_by.join(", ")} exclude them.`)
        : el("p", {}, "No record in its lineage belongs to an owner who withdrew consent."),
      wr.datasets.length ? el("ul", {}, wr.datasets.map((d) => el("li", {}, assetLink(d.asset), `: ${fmt(d.records)} records, ${fmt(d.owners)} owners`))) : null));
    if (s.contributors.length) add(main, section("Contributors", table(["compute", "owner", "trained", "samples", "steps"],
      s.contributors.map((c) => [assetLink(c.compute), c.owner || "–", c.model === id ? "this" : c.model, c.samples ?? "–", c.steps ?? "–"]))));
    const lineage = el("div", {});
    add(main, section("Lineage", el("p", { class: "muted" }, `${s.upstream.length} assets upstream, ${s.downstream.length} downstream.`), lineage));
    const g = Graph(lineage, { ref: id, up: +params.get("up") || 2, down: +params.get("down") || 2, limit: +params.get("limit") || undefined });
    g.load();
    if (s.events.length) add(main, section("History", el("ul", {}, s.events.map((e) => el("li", {}, `${e.time} ${e.type} `, e.data.reason || "")))));
  }

  /* when an exclusion came from web signals: the sites' fetch times and the date they were honoured as of (as the card says) */
  function signalWhen(cur, reason) {
    const t = ((cur.signals || {}).terms || {})[reason];
    if (!t) return "";
    const sites = t.domains === 1 ? ` (the site's signal as fetched ${t.fetched_at[0]}` : ` (${fmt(t.domains)} sites' signals, fetched ${t.fetched_at[0]} to ${t.fetched_at[1]}`;
    return `${sites}; honoured as of ${cur.signals.as_of})`;
  }

  /* each property's value and 95% interval on its own axis (metrics differ in scale): an SVG, one row each */
  function propertyChart(entries) {
    const NS = "http://www.w3.org/2000/svg", W = 640, ROW = 34, LEFT = 230, RIGHT = 60;
    const svg = (tag, attrs, ...kids) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      add(e, ...kids);
      return e;
    };
    const chart = svg("svg", { id: "property-chart", width: W, height: ROW * entries.length + 10, role: "img",
      "aria-label": "Each property's value (dot) and 95% interval (line), each on its own scale" });
    entries.forEach(([name, p], i) => {
      const lo = p.ci ? Math.min(p.ci[0], p.value) : p.value, hi = p.ci ? Math.max(p.ci[1], p.value) : p.value;
      const pad = (hi - lo) * 0.1 || Math.abs(p.value) * 0.1 || 1;
      const a = lo - pad, b = hi + pad, x = (v) => LEFT + ((v - a) / (b - a)) * (W - LEFT - RIGHT), y = 10 + i * ROW + ROW / 2;
      const tip = `${name} = ${fmt(p.value)}` + (p.ci ? `, 95% CI [${fmt(p.ci[0])}, ${fmt(p.ci[1])}]` : "") + `, n = ${fmt(p.n)}`;
      chart.append(svg("g", { class: "prop" }, svg("title", {}, tip),
        svg("text", { x: 0, y: y + 4, "font-size": 12 }, name),
        svg("line", { x1: LEFT, x2: W - RIGHT, y1: y, y2: y, stroke: "#eaeef2" }),
        p.ci ? svg("line", { x1: x(p.ci[0]), x2: x(p.ci[1]), y1: y, y2: y, stroke: "#0969da", "stroke-width": 3 }) : null,
        svg("circle", { cx: x(p.value), cy: y, r: 5, fill: "#0550ae" }),
        svg("text", { x: W - RIGHT + 6, y: y + 4, "font-size": 11, fill: "#57606a" }, fmt(p.value))));
    });
    return chart;
  }

  /* ---------- can I use this for...? ---------- */
  async function pageCan() {
    const asset = el("input", { id: "asset", type: "text", list: "asset-options", value: params.get("ref") || "", autocomplete: "off", required: true, size: 40 });
    const options = el("datalist", { id: "asset-options" });
    const filter = el("input", { id: "use-filter", type: "search", autocomplete: "off", "aria-controls": "use-picker" });
    const picker = el("div", { class: "picker", id: "use-picker", role: "group", "aria-label": "Uses" });
    const chips = el("p", { class: "chips", id: "chosen", "aria-live": "polite" });
    const ask = el("button", { type: "submit", class: "primary", id: "ask" }, "Ask");
    const out = el("div", { id: "answer", "aria-live": "polite" });
    const graphHost = el("div", {});
    const chosen = new Set((params.get("uses") || "").split(",").filter(Boolean));
    const form = el("form", { id: "can-form" }, el("label", {}, "Asset", asset), options,
      el("div", {}, el("label", {}, "Find a use", filter)), picker, chips, ask);
    add(main, form, out, graphHost);
    let seq = 0;
    asset.addEventListener("input", async () => {
      const mine = ++seq;
      try {
        const r = await api("/api/ls", { q: asset.value, limit: 20 });
        if (mine === seq) options.replaceChildren(...r.assets.map((a) => el("option", { value: a.id })));
      } catch (e) { /* a half-typed id: nothing to suggest */ }
    });
    const tax = await api("/api/uses");
    const parents = new Map(tax.map((u) => [u.id, u.parents]));
    const depth = (u) => { let d = 0, x = u; while ((parents.get(x) || []).length) { x = parents.get(x)[0]; d++; } return d; };
    const boxes = [];
    const byFacet = new Map();
    for (const u of tax) { if (!byFacet.has(u.facet)) byFacet.set(u.facet, []); byFacet.get(u.facet).push(u); }
    for (const [facet, us] of byFacet) {
      add(picker, el("fieldset", {}, el("legend", {}, facet), us.map((u) => {
        const cb = el("input", { type: "checkbox", value: u.id, checked: chosen.has(u.id), onchange: () => { cb.checked ? chosen.add(u.id) : chosen.delete(u.id); showChosen(); } });
        boxes.push(cb);
        return el("label", { style: `padding-left:${depth(u.id)}rem`, "data-use": u.id }, cb, u.id);
      })));
    }
    filter.addEventListener("input", () => {
      const f = filter.value.toLowerCase().trim();
      for (const lab of picker.querySelectorAll("label[data-use]")) lab.hidden = !!f && !lab.dataset.use.includes(f);
    });
    const showChosen = () => chips.replaceChildren(chosen.size ? "Asking for: " : "No use chosen yet.", ...[...chosen].map((u) => el("span", {}, u)));
    showChosen();
    form.addEventListener("submit", (e) => { e.preventDefault(); run(true); });

    async function run(push) {
      out.replaceChildren();
      graphHost.replaceChildren();
      if (!asset.value.trim() || !chosen.size) return add(out, el("p", { class: "error", role: "alert" }, "Choose an asset and at least one use."));
      const uses = [...chosen];
      const url = `/can?ref=${encodeURIComponent(asset.value.trim())}&uses=${encodeURIComponent(uses.join(","))}`;
      if (push) history.pushState(null, "", url);
      let d;
      try { d = await api("/api/can", { ref: asset.value.trim(), uses }); } catch (e) { return fail(out, e); }
      const reasons = el("ol", { class: "reasons", id: "reasons" });
      add(out, el("p", { class: "verdict " + (d.allowed ? "allowed" : "denied"), id: "verdict" }, d.explain.verdict),
        d.explain.conditions.length ? el("ul", {}, d.explain.conditions.map((c) => el("li", {}, c.text, el("br"), el("span", { class: "muted" }, c.by)))) : null,
        reasons, el("p", {}, el("a", { href: url, id: "permalink" }, "Permalink to this question"), " · ", assetLink(d.asset)));
      const g = Graph(graphHost, { ref: d.asset, up: 1000, down: 0, uses });
      d.explain.reasons.forEach((r, i) => {
        const li = el("li", {}, el("div", {}, r.text), el("div", { class: "path" }, "path: " + r.path),
          el("button", { type: "button", class: "show-path", "aria-controls": "graph", onclick: () => { g.highlight(d.reasons[i].path); mark(li); } }, "Show path on the graph"));
        add(reasons, li);
      });
      const mark = (li) => reasons.querySelectorAll("li").forEach((x) => x.classList.toggle("active", x === li));
      await g.load();
      if (d.reasons.length) { g.highlight(d.reasons[0].path); mark(reasons.querySelector("li")); }
    }
    if (params.get("ref") && chosen.size) run(false);
  }

  /* ---------- withdrawal impact ---------- */
  async function pageImpact() {
    const ref = params.get("ref");
    if (!ref) {
      let held;
      try { held = await api("/api/held"); } catch (e) { return fail(main, e); }
      add(main, el("p", {}, "Withdrawn and restricted assets (not lifted), newest first. Open one to see what it reaches."),
        held.length ? table(["asset", "state", "uses denied", "reason", "since"], held.map((h) => [el("a", { href: "/impact?ref=" + encodeURIComponent(h.id) }, h.id),
          badge(h.state), h.deny.join(", ") || "every use", h.reason, h.time.slice(0, 19)])) : el("p", {}, "Nothing is withdrawn or restricted."));
      return;
    }
    let r;
    try { r = await api("/api/impact", { ref }); } catch (e) { return fail(main, e); }
    main.querySelector("h1").textContent = "Withdrawal impact: " + r.asset;
    add(main, 
      r.withdrawn ? el("p", { class: "banner", id: "state" }, `Withdrawn ${r.withdrawn.time.slice(0, 10)}: ${r.withdrawn.reason}. Every use is denied to it and to everything below.`) : null,
      r.restrictions.length ? el("p", { class: "banner", id: "state" }, "Restricted: ", r.restrictions.map((x) => `${x.deny.join(", ")} denied (${x.reason}, ${x.time.slice(0, 10)})`).join("; "), ". Everything below inherits it.") : null,
      !r.withdrawn && !r.restrictions.length ? el("p", { id: "state" }, "Neither withdrawn nor restricted: this is what a withdrawal would reach.") : null,
      el("p", { id: "affected-count" }, `${r.affected.length} downstream assets affected, ${r.applications.length} of them applications.`, " ", assetLink(r.asset)),
      section("Applications", r.applications.length ? table(["application", "hops", "active API keys"], r.applications.map((x) =>
        [assetLink(x.id), x.depth, x.keys ? el("span", {}, String(x.keys), badge("restricted", "served by the gateway")) : "0"])) : el("p", {}, "No application is downstream.")),
      section("Affected assets", r.affected.length ? table(["asset", "hops"], r.affected.slice(0, 500).map((x) => [assetLink(x.id), x.depth])) : el("p", {}, "Nothing downstream."),
        r.affected.length > 500 ? el("p", { class: "muted" }, `… and ${r.affected.length - 500} more (all of them: /api/impact).`) : null));
    const host = el("div", {});
    add(main, section("Downstream graph", host));
    Graph(host, { ref: r.asset, up: 0, down: 3 }).load();
  }

  const pages = { search: pageSearch, asset: pageAsset, can: pageCan, impact: pageImpact };
  const page = pages[document.body.dataset.page];
  if (page) Promise.resolve(page()).catch((e) => fail(main, e));
  window.addEventListener("popstate", () => location.reload());
})();

/* Charter's web view: renders what /api returns. No decision is made here: verdicts, reasons and their text
   come from the server (charter.policy.explain, the same text the CLI prints). User text is set as text. */
"use strict";
(function () {
  const main = document.getElementById("main");
  const params = new URLSearchParams(location.search);
  const KINDS = ["dataset", "model", "application", "compute"];
  const ROOT = document.body.dataset.root || ""; // the prefix the view is mounted under ("/ui" in `charter serve`)
  /* the write token of `charter ui --writes` arrives after "#" (never sent to a server), is kept for this tab only and
     sent as a header (never a cookie: another site cannot make the browser send it) */
  const given = location.hash.match(/^#write-token=([A-Za-z0-9_-]+)$/);
  if (given) { sessionStorage.setItem("charter-write-token", given[1]); history.replaceState(null, "", location.pathname + location.search); }
  const TOKEN = sessionStorage.getItem("charter-write-token");

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "href" && String(v).startsWith("/")) e.setAttribute(k, ROOT + v);
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

  async function api(path, query, body) {
    const u = new URL(ROOT + path, location.origin);
    for (const [k, v] of Object.entries(query || {})) {
      if (Array.isArray(v)) v.forEach((x) => u.searchParams.append(k, x));
      else if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
    }
    const auth = TOKEN ? { Authorization: "Bearer " + TOKEN } : {};
    const r = body ? await fetch(u, { method: "POST", headers: { "Content-Type": "application/json", ...auth }, body: JSON.stringify(body) })
      : await fetch(u, path === "/api/session" ? { headers: auth } : undefined);
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
      "border-width": 1, "border-color": "#fff", "min-zoomed-font-size": 6 } }, // labels too small to read are not drawn (large graphs)
    { selector: "node[?root]", style: { width: 32, height: 32, "font-weight": "bold", "font-size": 11 } },
    { selector: "node[!registered]", style: { "background-color": "#d0d7de", shape: "round-rectangle" } },
    { selector: "node[?denied]", style: { "border-width": 4, "border-color": "#cf222e" } },
    { selector: "node[?restricted]", style: { "border-width": 4, "border-color": "#bf8700", "border-style": "dashed" } },
    { selector: "node[?withdrawn]", style: { "background-color": "#b3261e", shape: "octagon", "border-width": 4, "border-color": "#5c0f0b" } },
    { selector: "node.more", style: { shape: "round-rectangle", "background-color": "#eaeef2", "border-color": "#8c959f", "border-width": 1,
      width: 60, height: 16, "text-valign": "center", "text-margin-y": 0, color: "#24292f" } },
    { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#8c959f",
      "target-arrow-color": "#8c959f", label: "data(relation)", "font-size": 7, "text-rotation": "autorotate", color: "#57606a",
      "text-background-color": "#fff", "text-background-opacity": 0.8, "min-zoomed-font-size": 6 } },
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

    /* ``early``: the same request already on its way (the asset page asks for it while the rest of the page loads) */
    self.load = async function (early) {
      self.opts.up = +up.value;
      self.opts.down = +down.value;
      self.nodes.clear();
      self.edges.clear();
      status.textContent = "Loading…";
      try {
        const g = await (early || api("/api/graph", { ref: opts.ref, up: self.opts.up, down: self.opts.down, limit: opts.limit, uses: opts.uses || [] }));
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
      const base = partial && self.nodes.has(g.asset) ? self.nodes.get(g.asset).layer : 0; // a graph asked around another asset
      for (const n of g.nodes) {
        const old = self.nodes.get(n.id);
        n.layer = old ? old.layer : base + n.layer;
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
      self.cy.layout({ name: "preset", positions: layered(), padding: 20, animate: false, fit: true }).run();
      self.renderList();
      box.dataset.nodes = String(self.nodes.size);
    };

    /* positions in O(n): one row per layer (hops from the asset asked, upstream above), a collapsed family's
       "+N" node one row beyond its asset; Cytoscape's breadthfirst layout took seconds at 1,000 nodes */
    function layered() {
      const rows = new Map(), pos = {};
      const put = (id, layer) => { if (!rows.has(layer)) rows.set(layer, []); rows.get(layer).push(id); };
      for (const n of self.nodes.values()) {
        put(n.id, n.layer);
        if (n.hidden_up) put(`more-up:${n.id}`, n.layer - 0.5);
        if (n.hidden_down) put(`more-down:${n.id}`, n.layer + 0.5);
      }
      for (const [layer, ids] of rows) ids.forEach((id, i) => { pos[id] = { x: (i - (ids.length - 1) / 2) * 150, y: layer * 110 }; });
      return pos;
    }

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
    const denied = el("input", { id: "denied", type: "search", value: params.get("denied") || "", placeholder: "e.g. commercial", autocomplete: "off" });
    const state = el("select", { id: "state" }, ["", "withdrawn", "restricted"].map((s) => el("option", { value: s, selected: params.get("state") === s }, s || "any")));
    const count = el("p", { id: "count", class: "muted", "aria-live": "polite" });
    const results = el("ul", { id: "results", class: "results" });
    const facets = el("div", { id: "facets", class: "facets" });
    add(main, el("form", { role: "search", onsubmit: (e) => e.preventDefault() },
      el("label", {}, "Id or name", q), el("label", {}, "Kind", kind), el("label", {}, "Licence", lic),
      el("label", {}, "Allowed for uses", allowed), el("label", {}, "Denied for uses", denied), el("label", {}, "State", state)), count, facets, results);
    /* the matches' kinds and most frequent licences, each a button that narrows the search to it */
    const facetRow = (label, counts, pick) => el("p", {}, el("span", { class: "muted" }, label + ": "),
      Object.entries(counts).map(([k, n]) => k === "(none)" ? el("span", { class: "facet muted" }, `no licence (${fmt(n)})`)
        : el("button", { type: "button", class: "facet", "data-facet": label + ":" + k, onclick: () => pick(k) }, `${k} (${fmt(n)})`)));
    let seq = 0, timer = null;
    async function run() {
      const mine = ++seq;
      const query = { q: q.value, kind: kind.value, license: lic.value, allowed: allowed.value, denied: denied.value, state: state.value };
      const u = new URLSearchParams(Object.entries(query).filter(([, v]) => v));
      history.replaceState(null, "", ROOT + (u.toString() ? "/?" + u : "/"));
      try {
        const r = await api("/api/ls", query);
        if (mine !== seq) return; // an older answer arriving late
        count.textContent = r.total === 0 ? "No assets match." : r.total > r.assets.length ? `${r.total} assets match; the first ${r.assets.length} are listed.` : `${r.total} assets match.`;
        results.replaceChildren(...r.assets.map((a) => el("li", {}, assetLink(a.id), el("span", { class: "muted" }, `  ${a.kind} · ${a.licenses.join(", ") || "no licence"}`),
          a.withdrawn && badge("withdrawn"))));
        facets.replaceChildren(...(r.facets ? [facetRow("kind", r.facets.kind, (k) => { kind.value = k; run(); }),
          facetRow("licence", r.facets.license, (k) => { lic.value = k; run(); })] : []));
      } catch (e) {
        if (mine === seq) { count.textContent = "Error: " + e.message; results.replaceChildren(); facets.replaceChildren(); }
      }
    }
    const soon = () => { clearTimeout(timer); timer = setTimeout(run, 120); };
    for (const x of [q, lic, allowed, denied]) x.addEventListener("input", soon);
    for (const x of [kind, state]) x.addEventListener("change", run);
    run();
  }

  /* ---------- asset page ---------- */
  async function pageAsset() {
    const ref = params.get("ref");
    if (!ref) return add(main, el("p", {}, "Choose an asset on the ", el("a", { href: "/" }, "search page"), "."));
    const num = (k, d) => (params.has(k) ? +params.get(k) : d);
    const view = { up: num("up", 2), down: num("down", 2), limit: params.has("limit") ? +params.get("limit") : undefined };
    const early = api("/api/graph", { ref, ...view }); // the graph, asked for at once: drawn once the card is on the page
    early.catch(() => {}); // a failure is shown by the graph itself
    let s, v;
    try {
      [s, v] = await Promise.all([api("/api/show", { ref, limit: 0 }), api("/api/verdicts", { ref })]); // counts, not the lists
    } catch (e) { return fail(main, e); }
    const a = s.asset, eff = s.effective, id = a.id;
    document.title = id + " · Charter";
    main.querySelector("h1").textContent = id;
    add(main, 
      a.description ? el("p", {}, a.description) : null,
      el("p", {}, `Kind: ${a.kind}. Licence: ${a.licenses.join(", ") || "none"}. `, el("span", { class: "muted" }, s.hash)),
      el("p", {}, el("a", { href: "/can?ref=" + encodeURIComponent(id), id: "ask-link" }, "Can I use this for…?"), " · ",
        el("a", { href: "/impact?ref=" + encodeURIComponent(id) }, "Withdrawal impact"), " · ",
        el("a", { href: "/api/card?ref=" + encodeURIComponent(id) }, "Card (JSON)"),
        s.properties.length ? [" · ", el("a", { href: "/evals?ref=" + encodeURIComponent(id), id: "evals-link" }, "Evaluations")] : null,
        a.notes && a.notes.curation ? [" · ", el("a", { href: "/curation?ref=" + encodeURIComponent(id), id: "curation-link" }, "Curation manifest")] : null),
      s.withdrawn && el("p", { class: "banner", role: "status" }, `Withdrawn ${s.withdrawn.time.slice(0, 10)}: ${s.withdrawn.reason}`));
    if (TOKEN) api("/api/session").then((x) => { // the writes this tab may make start from the impact page, which shows what they reach
      if (x.writes && x.authenticated) document.getElementById("ask-link").parentElement.append(" · ",
        el("a", { href: "/impact?ref=" + encodeURIComponent(id), id: "act-link" }, `Withdraw, restrict or lift as ${x.actor}…`));
    }).catch((e) => fail(main, e));
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
    for (const u of v.uses) for (const w of u.why) rows.push([u.use, w.text, assetLink(w.asset), origin(w, id)]); // w.text: the reason as the CLI words it
    add(main, section("Uses", el("p", { class: "muted" }, "Each use of the taxonomy judged alone (ask for combinations on the ", el("a", { href: "/can?ref=" + encodeURIComponent(id) }, "Can I use this for…?"), " page)."),
      el("h3", {}, "Permitted"), permitted, el("h3", {}, "Prohibited"),
      rows.length ? el("table", { id: "prohibited" }, el("thead", {}, el("tr", {}, ["use", "reason", "imposed by", "where"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c))))))
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
    add(main, section("Lineage", el("p", { class: "muted" }, `${fmt(s.upstream_total)} assets upstream, ${fmt(s.downstream_total)} downstream.`), lineage));
    const g = Graph(lineage, { ref: id, ...view });
    g.load(early);
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
      if (push) history.pushState(null, "", ROOT + url);
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
    try { r = await api("/api/impact", { ref, limit: 500 }); } catch (e) { return fail(main, e); }
    main.querySelector("h1").textContent = "Withdrawal impact: " + r.asset;
    add(main, 
      r.withdrawn ? el("p", { class: "banner", id: "state" }, `Withdrawn ${r.withdrawn.time.slice(0, 10)}: ${r.withdrawn.reason}. Every use is denied to it and to everything below.`) : null,
      r.restrictions.length ? el("p", { class: "banner", id: "state" }, "Restricted: ", r.restrictions.map((x) => `${x.deny.join(", ")} denied (${x.reason}, ${x.time.slice(0, 10)})`).join("; "), ". Everything below inherits it.") : null,
      !r.withdrawn && !r.restrictions.length ? el("p", { id: "state" }, "Neither withdrawn nor restricted: this is what a withdrawal would reach.") : null,
      el("p", { id: "affected-count" }, `${r.total} downstream assets affected, ${r.applications.length} of them applications.`, " ", assetLink(r.asset)),
      section("Applications", r.applications.length ? table(["application", "hops", "active API keys"], r.applications.map((x) =>
        [assetLink(x.id), x.depth, x.keys ? el("span", {}, String(x.keys), badge("restricted", "served by the gateway")) : "0"])) : el("p", {}, "No application is downstream.")),
      section("Affected assets", r.affected.length ? table(["asset", "hops"], r.affected.slice(0, 500).map((x) => [assetLink(x.id), x.depth])) : el("p", {}, "Nothing downstream."),
        r.total > r.affected.length ? el("p", { class: "muted" }, `… and ${fmt(r.total - r.affected.length)} more (all of them: /api/impact).`) : null));
    await writePanel(r);
    const host = el("div", {});
    add(main, section("Downstream graph", host));
    Graph(host, { ref: r.asset, up: 0, down: 3 }).load();
  }

  /* withdraw, restrict, lift: offered only to a tab holding the write token, each write the server says the identity
     may make; each behind a dialog that shows the impact first. The server decides again (and records refusals). */
  async function writePanel(r) {
    const s = await api("/api/session");
    if (!s.writes || !s.authenticated) return;
    const p = await api("/api/permits", { ref: r.asset });
    const keys = r.applications.reduce((n, a) => n + a.keys, 0);
    const offered = [["withdraw", "Withdraw", !r.withdrawn], ["restrict", "Restrict uses", true], ["lift", "Lift the withdrawal", !!r.withdrawn],
      ["lift-restrictions", "Lift the restrictions", r.restrictions.length > 0]].filter((x) => x[2]);
    const status = el("p", { id: "write-status", "aria-live": "polite" });
    add(main, section("Act on this asset", el("p", { class: "muted" }, `As ${s.actor}` + (s.users ? " (a user of this registry)" : " (the registry has no users: every local writer may act)") + "."),
      el("div", { id: "write-actions" }, offered.map(([a, label]) => {
        const ok = p.permits[a].allowed;
        return el("p", {}, el("button", { type: "button", id: "act-" + a, disabled: !ok, onclick: () => confirmWrite(a, label) }, label + "…"),
          el("span", { class: "muted" }, " " + p.permits[a].detail));
      })), status));

    function confirmWrite(action, label) {
      const reason = el("textarea", { id: "write-reason", required: true, rows: 2, cols: 60 });
      const deny = el("input", { id: "write-deny", type: "text", size: 40, placeholder: "e.g. commercial,fine-tuning" });
      const error = el("p", { class: "error", role: "alert", id: "write-error" });
      const what = action.startsWith("lift") ? "frees" : action === "withdraw" ? "denies every use to" : "passes the restriction on to";
      const dialog = el("dialog", { id: "write-dialog", "aria-labelledby": "write-title" },
        el("form", { method: "dialog", onsubmit: async (e) => {
          e.preventDefault();
          try {
            await api("/api/" + action, {}, { ref: r.asset, reason: reason.value, deny: deny.value.split(",").map((x) => x.trim()).filter(Boolean), affected: r.total });
          } catch (err) { error.textContent = "Refused: " + err.message; return; }
          dialog.close();
          sessionStorage.setItem("charter-write-done", `${label}: done (${r.asset}).`);
          location.reload();
        } },
        el("h2", { id: "write-title" }, `${label}: ${r.asset}`),
        el("p", { id: "write-impact" }, `This ${what} ${r.total} assets downstream, ${r.applications.length} of them applications with ${keys} active API keys.`),
        r.affected.length ? el("ul", {}, r.affected.slice(0, 10).map((x) => el("li", {}, x.id))) : null,
        r.total > 10 ? el("p", { class: "muted" }, `… and ${fmt(r.total - 10)} more (listed on this page).`) : null,
        action === "restrict" ? el("label", {}, "Uses to deny (comma-separated)", deny) : null,
        el("label", {}, "Reason (recorded)", reason), error,
        el("p", {}, el("button", { type: "submit", class: "primary", id: "write-confirm" }, "Confirm"), " ",
          el("button", { type: "button", id: "write-cancel", onclick: () => dialog.close() }, "Cancel"))));
      dialog.addEventListener("close", () => dialog.remove());
      document.body.append(dialog);
      dialog.showModal();
      reason.focus();
    }
  }

  /* ---------- charts: SVG drawn from the numbers the API returns (no decision here) ---------- */
  const NS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, ...kids) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
    return add(e, ...kids);
  }
  /* a row's click and Enter/Space: rows of an interactive chart are buttons for the keyboard too */
  function pickable(g, label, onpick) {
    if (!onpick) return g;
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    g.setAttribute("aria-label", label);
    g.addEventListener("click", onpick);
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); onpick(); } });
    return g;
  }

  /* rows [{label, value, ci, colour, tip}] on one shared scale: a dot and its 95% interval each; zero: mark 0 */
  function intervalChart(id, rows, opts) {
    const o = Object.assign({ width: 720, left: 260, zero: false, label: "values and 95% intervals" }, opts);
    const ROW = 30, RIGHT = 70, W = o.width;
    const xs = rows.flatMap((r) => [r.value, ...(r.ci || [])]).concat(o.zero ? [0] : []);
    let lo = Math.min(...xs), hi = Math.max(...xs);
    const pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1;
    lo -= pad; hi += pad;
    const x = (v) => o.left + ((v - lo) / (hi - lo)) * (W - o.left - RIGHT);
    const H = ROW * rows.length + 30;
    const chart = svgEl("svg", { id, class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "group", "aria-label": o.label });
    if (o.zero) chart.append(svgEl("line", { x1: x(0), x2: x(0), y1: 4, y2: H - 22, stroke: "#8c959f", "stroke-dasharray": "4 3" }));
    rows.forEach((r, i) => {
      const y = 12 + i * ROW + ROW / 2;
      const g = svgEl("g", { class: "row", "data-label": r.label }, svgEl("title", {}, r.tip),
        svgEl("rect", { x: 0, y: y - ROW / 2, width: W, height: ROW, fill: "transparent" }),
        svgEl("text", { x: 0, y: y + 4, "font-size": 12 }, r.label.length > 38 ? "…" + r.label.slice(-37) : r.label),
        svgEl("line", { x1: o.left, x2: W - RIGHT, y1: y, y2: y, stroke: "#eaeef2" }),
        r.ci ? svgEl("line", { x1: x(r.ci[0]), x2: x(r.ci[1]), y1: y, y2: y, stroke: r.colour || "#0969da", "stroke-width": 3 }) : null,
        svgEl("circle", { cx: x(r.value), cy: y, r: 5, fill: r.colour || "#0550ae" }),
        svgEl("text", { x: W - RIGHT + 6, y: y + 4, "font-size": 11, fill: "#57606a" }, fmt(r.value)));
      chart.append(pickable(g, r.tip, r.onpick));
    });
    chart.append(svgEl("text", { x: o.left, y: H - 6, "font-size": 10, fill: "#57606a" }, fmt(Number(lo.toPrecision(3)))),
      svgEl("text", { x: W - RIGHT, y: H - 6, "font-size": 10, fill: "#57606a", "text-anchor": "end" }, fmt(Number(hi.toPrecision(3)))));
    return chart;
  }

  /* rows [{label, value, tip, colour}]: horizontal bars from 0 */
  function barChart(id, rows, label) {
    const W = 720, LEFT = 300, RIGHT = 80, ROW = 24, H = ROW * rows.length + 8;
    const max = Math.max(1, ...rows.map((r) => r.value));
    const chart = svgEl("svg", { id, class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
    rows.forEach((r, i) => {
      const y = 4 + i * ROW;
      chart.append(svgEl("g", { class: "bar" }, svgEl("title", {}, r.tip),
        svgEl("text", { x: 0, y: y + 15, "font-size": 12 }, r.label.length > 44 ? r.label.slice(0, 43) + "…" : r.label),
        svgEl("rect", { x: LEFT, y: y + 3, height: ROW - 8, width: Math.max(1, ((W - LEFT - RIGHT) * r.value) / max), fill: r.colour || "#8250df" }),
        svgEl("text", { x: LEFT + ((W - LEFT - RIGHT) * r.value) / max + 6, y: y + 15, "font-size": 11, fill: "#57606a" }, fmt(r.value))));
    });
    return chart;
  }

  /* columns per time bucket, stacked: series [{name, colour, values}] */
  function timeChart(id, buckets, series, label) {
    const W = 760, H = 220, LEFT = 50, BOTTOM = 40, TOP = 10;
    const totals = buckets.map((_, i) => series.reduce((n, s) => n + s.values[i], 0));
    const max = Math.max(1, ...totals);
    const bw = Math.min(48, (W - LEFT - 10) / Math.max(1, buckets.length));
    const chart = svgEl("svg", { id, class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });
    chart.append(svgEl("line", { x1: LEFT, x2: W - 10, y1: H - BOTTOM, y2: H - BOTTOM, stroke: "#8c959f" }),
      svgEl("text", { x: LEFT - 6, y: TOP + 10, "font-size": 10, "text-anchor": "end", fill: "#57606a" }, fmt(max)),
      svgEl("text", { x: LEFT - 6, y: H - BOTTOM, "font-size": 10, "text-anchor": "end", fill: "#57606a" }, "0"));
    const every = Math.ceil(buckets.length / 8);
    buckets.forEach((b, i) => {
      let y = H - BOTTOM;
      const g = svgEl("g", { class: "col" }, svgEl("title", {}, `${b}: ` + series.map((s) => `${s.name} ${fmt(s.values[i])}`).join(", ")));
      for (const s of series) {
        const h = ((H - BOTTOM - TOP) * s.values[i]) / max;
        if (h > 0) g.append(svgEl("rect", { x: LEFT + i * bw + 1, y: y - h, width: Math.max(1, bw - 2), height: h, fill: s.colour }));
        y -= h;
      }
      if (i % every === 0) g.append(svgEl("text", { x: LEFT + i * bw + bw / 2, y: H - BOTTOM + 14, "font-size": 9, "text-anchor": "middle", fill: "#57606a" }, b.slice(5).replace("T", " ")));
      chart.append(g);
    });
    return el("figure", {}, chart, el("figcaption", { class: "legend" }, series.map((s) => el("span", {}, el("span", { class: "swatch", style: "background:" + s.colour }), s.name))));
  }

  /* a form with one asset (or comma-separated assets) field, suggestions as you type, that reloads the page with ?ref= */
  function refForm(id, label, kind, value) {
    const input = el("input", { id, type: "text", list: id + "-options", value: value || "", autocomplete: "off", size: 50, required: true });
    const options = el("datalist", { id: id + "-options" });
    let seq = 0;
    input.addEventListener("input", async () => {
      const mine = ++seq, last = input.value.split(",").pop().trim();
      try {
        const r = await api("/api/ls", { q: last, kind, limit: 20 });
        const head = input.value.includes(",") ? input.value.slice(0, input.value.lastIndexOf(",") + 1) : "";
        if (mine === seq) options.replaceChildren(...r.assets.map((a) => el("option", { value: head + a.id })));
      } catch (e) { /* a half-typed id: nothing to suggest */ }
    });
    const form = el("form", { id: id + "-form", onsubmit: (e) => { e.preventDefault(); location.assign(ROOT + location.pathname.slice(ROOT.length) + "?ref=" + encodeURIComponent(input.value.trim())); } },
      el("label", {}, label, input), options, el("button", { type: "submit", class: "primary" }, "Show"));
    return form;
  }
  const VERDICT_COLOURS = { better: "#1a7f37", worse: "#cf222e" };

  /* ---------- evaluations ---------- */
  async function pageEvals() {
    const refs = (params.get("ref") || "").split(",").map((x) => x.trim()).filter(Boolean);
    add(main, el("p", { class: "muted" }, "Evaluated properties of one or more models (comma-separated); with two, B (the second) is compared with A on the items both scored."),
      refForm("models", "Models", "", refs.join(",")));
    if (!refs.length) return evaluatedIndex();
    let r;
    try { r = await api("/api/evals", { ref: refs }); } catch (e) { return fail(main, e); }
    if (!r.metrics.length) return add(main, el("p", { id: "no-evals" }, "No evaluated properties for ", r.assets.join(", "), "."));
    if (r.assets.length >= 2) await compareSection(r.assets[0], r.assets[1]);
    const detail = el("div", { id: "groups", "aria-live": "polite" });
    const list = el("div", { id: "metrics" });
    add(main, section("Properties per metric", el("p", { class: "muted" }, "Each model's latest value and 95% interval, one scale per metric. Choose a row (click or Enter) for its items' breakdown by group."), list, detail));
    r.metrics.forEach((m, k) => {
      const name = `${m.benchmark}.${m.metric}`;
      const rows = m.values.map((v) => ({ label: v.asset, value: v.value, ci: v.ci,
        tip: `${v.asset}: ${name} = ${fmt(v.value)}` + (v.ci ? `, 95% CI [${fmt(v.ci[0])}, ${fmt(v.ci[1])}]` : "") + `, n = ${fmt(v.n)}, ${v.version}`,
        onpick: () => showGroups(detail, name, v) }));
      const earlier = m.history.length - m.values.length;
      add(list, el("div", { class: "metric" }, el("h3", {}, name, el("span", { class: "muted" }, ` (better: ${m.better})`)),
        intervalChart("chart-" + k, rows, { label: `${name}: each model's value and 95% interval` }),
        table(["model", "value", "95% CI", "n", "benchmark version", "evaluated"], m.values.map((v) => [assetLink(v.asset), fmt(v.value),
          v.ci ? `[${fmt(v.ci[0])}, ${fmt(v.ci[1])}]` : "–", fmt(v.n), v.version, v.time.slice(0, 10)])),
        earlier > 0 ? el("details", {}, el("summary", {}, `${earlier} earlier evaluation${earlier === 1 ? "" : "s"}`),
          table(["model", "value", "95% CI", "n", "version", "evaluated"], m.history.map((v) => [v.asset, fmt(v.value), v.ci ? `[${fmt(v.ci[0])}, ${fmt(v.ci[1])}]` : "–", fmt(v.n), v.version, v.time.slice(0, 19)]))) : null));
    });
  }

  /* no model asked: the assets that have evaluations, to open one or put two side by side */
  async function evaluatedIndex() {
    let r;
    try { r = await api("/api/evaluated"); } catch (e) { return fail(main, e); }
    if (!r.length) return add(main, el("p", { id: "no-evals" }, "No asset has evaluated properties yet (`charter eval`)."));
    const picked = new Set();
    const go = el("button", { type: "button", class: "primary", disabled: "", onclick: () => location.assign(ROOT + "/evals?ref=" + [...picked].map(encodeURIComponent).join(",")) }, "Show the checked side by side");
    const pick = (id) => el("input", { type: "checkbox", "aria-label": "pick " + id, onchange: (e) => {
      e.target.checked ? picked.add(id) : picked.delete(id);
      go.disabled = picked.size === 0;
    } });
    add(main, section("Evaluated assets", el("p", { class: "muted" }, "Open one, or check several (the first two are compared)."),
      el("table", { id: "evaluated" }, el("thead", {}, el("tr", {}, ["", "asset", "properties", "benchmarks"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, r.map((x) => el("tr", {}, el("td", {}, pick(x.asset)), el("td", {}, el("a", { href: "/evals?ref=" + encodeURIComponent(x.asset) }, x.asset)),
          el("td", {}, fmt(x.properties)), el("td", {}, fmt(x.benchmarks)))))), go));
  }

  function showGroups(host, name, v) {
    const groups = Object.entries(v.groups || {}).filter(([, g]) => typeof g.value === "number");
    host.replaceChildren();
    add(host, el("h3", {}, `${name} of ${v.asset} by group`),
      groups.length ? intervalChart("groups-chart", groups.map(([g, x]) => ({ label: g, value: x.value, ci: x.ci,
        tip: `${g}: ${fmt(x.value)}` + (x.ci ? ` [${fmt(x.ci[0])}, ${fmt(x.ci[1])}]` : "") + (x.n ? `, n = ${fmt(x.n)}` : "") })), { label: `${name} by group` })
        : el("p", {}, "No per-group breakdown was recorded for this property."),
      groups.length ? table(["group", "value", "95% CI", "n"], groups.map(([g, x]) => [g, fmt(x.value), x.ci ? `[${fmt(x.ci[0])}, ${fmt(x.ci[1])}]` : "–", x.n ? fmt(x.n) : "–"])) : null);
  }

  async function compareSection(a, b) {
    let c;
    try { c = await api("/api/compare", { a, b, allow_mismatch: true }); } catch (e) { return fail(main, e); }
    const detail = el("div", { id: "compare-detail", "aria-live": "polite" });
    const tested = c.changes.filter((x) => x.gain !== null);
    const words = { "no-difference": "no significant difference", "not-comparable": "not comparable", "only-a": "only A evaluated", "only-b": "only B evaluated" };
    const show = (x) => detail.replaceChildren(el("h3", {}, `${x.benchmark}.${x.metric}: ${words[x.verdict] || x.verdict}`), table(["", "value"], [
      ["A", x.a ? `${fmt(x.a.value)}` + (x.a.ci ? ` [${fmt(x.a.ci[0])}, ${fmt(x.a.ci[1])}]` : "") + ` (${x.a.version})` : "–"],
      ["B", x.b ? `${fmt(x.b.value)}` + (x.b.ci ? ` [${fmt(x.b.ci[0])}, ${fmt(x.b.ci[1])}]` : "") + ` (${x.b.version})` : "–"],
      ["gain (B closer to the ideal: > 0)", x.gain !== null ? `${fmt(x.gain)}` + (x.gain_ci ? ` [${fmt(x.gain_ci[0])}, ${fmt(x.gain_ci[1])}]` : "") : "–"],
      ["p / Holm-corrected", x.p !== null ? `${fmt(x.p)} / ${fmt(x.p_holm)} (${x.test})` : "–"],
      ["items compared / units", `${fmt(x.n)} / ${fmt(x.units)}`],
      ["discordant (B right where A wrong, the reverse)", x.discordant ? x.discordant.join(", ") : "–"], ["note", x.note || "–"]]));
    add(main, section("Comparison", el("p", {}, `A = ${c.a}, B = ${c.b}.`), el("p", { id: "compare-summary" }, c.summary),
      c.warnings.length ? el("ul", { class: "warnings" }, c.warnings.map((w) => el("li", {}, w))) : null,
      tested.length ? intervalChart("compare-chart", tested.map((x) => ({ label: `${x.benchmark}.${x.metric}`, value: x.gain, ci: x.gain_ci, colour: VERDICT_COLOURS[x.verdict],
        tip: `${x.benchmark}.${x.metric}: gain ${fmt(x.gain)}, ${words[x.verdict] || x.verdict}, p (Holm) ${fmt(x.p_holm)}`, onpick: () => show(x) })),
      { zero: true, label: "gain of B over A per metric with its paired 95% interval; choose a row for its test" }) : el("p", {}, "No metric could be tested."),
      el("p", { class: "muted" }, `Gain: how much closer to the metric's ideal B is than A, on the items both scored (paired bootstrap 95% interval, ${fmt(c.n_boot)} resamples); p: exact McNemar for accuracies, else the bootstrap's; Holm-corrected at ${c.alpha}.`),
      table(["metric", "A", "B", "gain [95% CI]", "p (Holm)", "B vs A"], c.changes.map((x) => [`${x.benchmark}.${x.metric}`, x.a ? fmt(x.a.value) : "–", x.b ? fmt(x.b.value) : "–",
        x.gain !== null ? `${fmt(x.gain)}` + (x.gain_ci ? ` [${fmt(x.gain_ci[0])}, ${fmt(x.gain_ci[1])}]` : "") : "–", x.p_holm !== null ? fmt(x.p_holm) : "–",
        badge(x.verdict === "better" ? "permitted" : x.verdict === "worse" ? "prohibited" : "", words[x.verdict] || x.verdict)])), detail));
    if (tested.length) show(tested[0]);
  }

  /* ---------- curation ---------- */
  async function pageCuration() {
    const ref = params.get("ref");
    add(main, el("p", { class: "muted" }, "A dataset curated by `charter curate`: every input record kept or excluded with its reason, and the files' hashes."),
      refForm("dataset", "Curated dataset", "dataset", ref));
    if (!ref) return;
    let r;
    try { r = await api("/api/curation", { ref }); } catch (e) { return fail(main, e); }
    const m = r.manifest, s = r.summary;
    main.querySelector("h1").textContent = "Curation: " + r.asset;
    const excluded = Object.entries((m || s).excluded);
    add(main, r.intact ? el("p", { id: "manifest-state" }, `Manifest ${r.manifest_path}: intact (sha256 ${r.manifest_sha256}).`)
      : el("p", { class: "banner", id: "manifest-state", role: "status" }, `Manifest ${r.manifest_path}: ${r.problem}. The summary recorded at registration is shown.`),
    el("p", { id: "curation-counts" }, `Curated for ${(m || s).uses.join(", ")}: ${fmt((m || s).output)} of ${fmt((m || s).input)} records kept, ${fmt(excluded.reduce((n, [, v]) => n + v, 0))} excluded.`, " ", assetLink(r.asset)),
    section("Exclusions by reason", excluded.length ? barChart("exclusions-chart", excluded.map(([k, v]) => ({ label: k, value: v, tip: `${k}: ${fmt(v)} records` })), "records excluded per reason")
      : el("p", {}, "No record was excluded.")));
    if (!m) return;
    add(main, section("Inputs", m.sources.map((src) => el("div", { class: "source" }, el("h3", {}, assetLink(src.asset), " ",
      badge(src.decision.allowed ? "permitted" : "prohibited", src.decision.allowed ? "allowed" : "denied")),
      el("p", {}, `${fmt(src.input)} records in, ${fmt(src.selected)} selected` + (Object.keys(src.excluded).length ? "; excluded: " + Object.entries(src.excluded).map(([k, v]) => `${k} ${fmt(v)}`).join(", ") : "")),
      table(["file", "sha256", "bytes", "format", "records", "skipped lines"], src.files.map((f) => [f.path, el("code", {}, f.sha256), fmt(f.bytes), f.format, fmt(f.records), f.skipped_lines.length]))))),
    section("Outputs", table(["file", "sha256", "records"], m.outputs.map((o) => [o.path, el("code", {}, o.sha256), fmt(o.records)])),
      el("p", {}, "All outputs: sha256 ", el("code", { id: "output-sha256" }, m.output_sha256), `; config hash ${m.config_hash}; dedup ${m.dedup.method}; created ${m.created}.`)));
  }

  /* ---------- the gateway's audit log ---------- */
  const DECISION_COLOURS = { allowed: "#1a7f37", denied: "#cf222e", withdrawn: "#5c0f0b", unauthorized: "#bf8700", "rate-limited": "#8250df" };
  async function pageGateway() {
    const verify = el("p", { id: "verify", "aria-live": "polite" }, "Verifying the audit log's hash chain…");
    const appSel = el("select", { id: "gw-app" }), useSel = el("select", { id: "gw-use" });
    const bucketSel = el("select", { id: "gw-bucket" }, ["", "minute", "hour", "day", "month"].map((b) => el("option", { value: b, selected: (params.get("bucket") || "") === b }, b || "automatic")));
    const charts = el("div", { id: "gw-charts" });
    add(main, verify, el("form", { id: "gw-form", onsubmit: (e) => e.preventDefault() }, el("label", {}, "Application", appSel), el("label", {}, "Use", useSel), el("label", {}, "Time bucket", bucketSel)), charts);
    api("/api/audit/verify").then((v) => verify.replaceChildren(v.ok ? el("span", { class: "badge permitted" }, "intact") : el("span", { class: "badge prohibited" }, "broken"),
      v.ok ? ` Audit log intact: ${fmt(v.entries)} entries, head ${v.head}.` : ` Audit log broken at entry ${v.broken_seq}: ${v.problem} (${fmt(v.entries)} entries verified before it).`))
      .catch((e) => { verify.textContent = "Error: " + e.message; });
    let series, denials;
    async function load() {
      try { series = await api("/api/audit/series", { bucket: bucketSel.value }); } catch (e) { return fail(charts, e); }
      const apps = [...new Set(series.series.map((s) => s.application))], uses = [...new Set(series.series.map((s) => s.use))].filter((u) => u !== "*");
      const keep = (sel, v) => (v.includes(sel.value) ? sel.value : "");
      const a = keep(appSel, apps) || params.get("app") || "", u = keep(useSel, uses) || params.get("use") || "";
      appSel.replaceChildren(el("option", { value: "" }, "every application"), ...apps.map((x) => el("option", { value: x, selected: x === a }, x)));
      useSel.replaceChildren(el("option", { value: "" }, "every use (each request once)"), ...uses.map((x) => el("option", { value: x, selected: x === u }, x)));
      draw();
    }
    function draw() {
      const app = appSel.value, use = useSel.value || "*";
      const rows = series.series.filter((s) => (!app || s.application === app) && s.use === use);
      const decisions = [...new Set(rows.map((s) => s.decision))];
      const sum = (d, key) => series.buckets.map((_, i) => rows.filter((s) => s.decision === d).reduce((n, s) => n + s[key][i], 0));
      const reqs = decisions.map((d) => ({ name: d, colour: DECISION_COLOURS[d] || "#8c959f", values: sum(d, "requests") }));
      const total = reqs.reduce((n, s) => n + s.values.reduce((a, b) => a + b, 0), 0);
      const q = new URLSearchParams(Object.entries({ app, use: useSel.value, bucket: bucketSel.value }).filter(([, v]) => v));
      history.replaceState(null, "", ROOT + "/gateway" + (q.toString() ? "?" + q : ""));
      charts.replaceChildren(
        el("p", { id: "gw-total" }, `${fmt(total)} requests` + (app ? ` of ${app}` : "") + (useSel.value ? ` for ${useSel.value}` : "") + `, per ${series.bucket}` + (series.buckets.length ? ` from ${series.buckets[0]} to ${series.buckets[series.buckets.length - 1]}` : "") + "."),
        section("Requests by decision", timeChart("requests-chart", series.buckets, reqs, "requests per time bucket, stacked by decision")),
        section("Tokens (prompt and completion)", timeChart("tokens-chart", series.buckets, [{ name: "tokens", colour: "#0969da", values: series.buckets.map((_, i) => rows.reduce((n, s) => n + s.tokens[i], 0)) }], "tokens per time bucket")));
    }
    appSel.addEventListener("change", draw);
    useSel.addEventListener("change", draw);
    bucketSel.addEventListener("change", load);
    await load();
    const summary = await api("/api/audit/summary");
    add(main, section("Per application, use and decision", el("p", {}, `${fmt(summary.requests)} requests` + (summary.first ? `, ${summary.first} to ${summary.last}` : "") + ". "
      + Object.entries(summary.by_decision).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")),
      summary.rows.length ? table(["application", "use", "decision", "requests", "prompt tokens", "completion tokens"], summary.rows.map((r) => [r.application.includes("/") ? assetLink(r.application) : r.application,
        r.use, badge(r.decision === "allowed" ? "permitted" : "prohibited", r.decision), fmt(r.requests), fmt(r.prompt_tokens), fmt(r.completion_tokens)])) : el("p", {}, "No request recorded.")));
    try { denials = await api("/api/audit/denials", { limit: 20 }); } catch (e) { return fail(main, e); }
    add(main, section("Latest denials", denials.length ? el("ol", { id: "denials", class: "reasons" }, denials.map((d) => el("li", {},
      el("div", {}, el("strong", {}, `${d.time.slice(0, 19)} `), d.application ? assetLink(d.application) : "–", ` asked ${d.model || "–"} for ${d.uses.join(", ") || "–"}: `, badge("prohibited", `${d.status} ${d.decision}`)),
      el("ul", {}, d.reasons.map((r) => el("li", {}, r.text, el("div", { class: "path" }, "path: " + r.path))))))) : el("p", {}, "No request was refused by the charter.")));
  }

  const done = sessionStorage.getItem("charter-write-done");
  if (done) { sessionStorage.removeItem("charter-write-done"); main.querySelector("h1").after(el("p", { class: "banner ok", role: "status", id: "write-done" }, done)); }
  const pages = { search: pageSearch, asset: pageAsset, can: pageCan, impact: pageImpact, evals: pageEvals, curation: pageCuration, gateway: pageGateway };
  const page = pages[document.body.dataset.page];
  if (page) Promise.resolve(page()).catch((e) => fail(main, e));
  window.addEventListener("popstate", () => location.reload());
})();

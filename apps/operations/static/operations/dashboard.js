// Kirby dashboard: fetch the status document every few seconds and redraw the
// sections in place (no reload, scroll position kept). The server renders the
// same page first, so without JavaScript it is complete, only not live.
(function () {
  "use strict";

  var body = document.body;
  var source = body.getAttribute("data-source");
  var seconds = parseFloat(body.getAttribute("data-refresh-seconds")) || 10;
  var WIDTH = 320, HEIGHT = 60;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function text(value) { return value === null || value === undefined || value === "" ? "–" : String(value); }

  function row(name, state, cells) {
    var tr = el("tr", { "data-name": name, "class": "state-" + state });
    cells.forEach(function (cell, index) {
      var td = el("td", index === 1 ? { "class": "state" } : index === 2 ? { "class": "reason" } : {}, [text(cell)]);
      tr.appendChild(td);
    });
    return tr;
  }

  function fill(id, rows, emptyText, columns) {
    var tbody = document.getElementById(id);
    tbody.textContent = "";
    if (!rows.length) {
      tbody.appendChild(el("tr", {}, [el("td", { colspan: String(columns) }, [emptyText])]));
    }
    rows.forEach(function (tr) { tbody.appendChild(tr); });
  }

  function badge(sectionId, state) {
    var node = document.querySelector("#" + sectionId + " h2 .badge");
    if (node) { node.className = "badge state-" + state; node.textContent = state; }
  }

  var SVG = "http://www.w3.org/2000/svg";

  function svg(width, height, label) {
    var node = document.createElementNS(SVG, "svg");
    node.setAttribute("class", "plot");
    node.setAttribute("width", width);
    node.setAttribute("height", height);
    node.setAttribute("role", "img");
    node.setAttribute("aria-label", label);
    return node;
  }

  function svgText(parent, value) {
    var t = document.createElementNS(SVG, "text");
    t.setAttribute("x", "4");
    t.setAttribute("y", "11");
    t.textContent = value;
    parent.appendChild(t);
  }

  function sparkline(points) {
    if (points.length < 2) {
      var empty = svg(WIDTH, HEIGHT, "no data yet");
      svgText(empty, "no data yet");
      empty.lastChild.setAttribute("y", "20");
      return empty;
    }
    var t0 = points[0][0], span = (points[points.length - 1][0] - t0) || 1;
    var top = Math.max.apply(null, points.map(function (p) { return p[1]; })) || 1;
    var latest = points[points.length - 1][1];
    var node = svg(WIDTH, HEIGHT, "latest " + latest + ", highest " + top);
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "currentColor");
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("points", points.map(function (p) {
      return ((p[0] - t0) / span * (WIDTH - 2) + 1).toFixed(1) + "," + (HEIGHT - 1 - p[1] / top * (HEIGHT - 14)).toFixed(1);
    }).join(" "));
    node.appendChild(line);
    svgText(node, "latest " + latest + " · max " + top);
    return node;
  }

  function freshness(items) {
    var label = 230;  // as FRESHNESS_LABEL_WIDTH in dashboard.py
    var node = svg(label + WIDTH, Math.max(14, items.length * 14), "freshness");
    items.forEach(function (item, index) {
      var age = Math.min(3, item.age_intervals === null ? 3 : item.age_intervals);
      var name = document.createElementNS(SVG, "text");
      name.setAttribute("x", "0");
      name.setAttribute("y", String(index * 14 + 9));
      name.textContent = item.name;
      node.appendChild(name);
      var bar = document.createElementNS(SVG, "rect");
      bar.setAttribute("class", "bar state-" + item.state);
      bar.setAttribute("x", String(label));
      bar.setAttribute("y", String(index * 14));
      bar.setAttribute("width", Math.max(1, age / 3 * WIDTH).toFixed(1));
      bar.setAttribute("height", "10");
      var title = document.createElementNS(SVG, "title");
      title.textContent = item.name + ": " + item.reason;
      bar.appendChild(title);
      node.appendChild(bar);
    });
    return node;
  }

  function replace(id, node) {
    var holder = document.getElementById(id);
    holder.textContent = "";
    holder.appendChild(node);
  }

  function service(name, label, part, details) {
    return row(name, part.state, [label, part.state, part.reason, details]);
  }

  function render(status) {
    var overall = document.getElementById("overall");
    overall.className = "badge state-" + status.state;
    overall.textContent = status.state;
    document.getElementById("generated-at").textContent = status.generated_at;
    var reasons = document.getElementById("reasons");
    reasons.textContent = "";
    status.reasons.forEach(function (reason) { reasons.appendChild(el("li", {}, [reason])); });

    badge("streams", status.streams.state);
    fill("streams-body", status.streams.items.map(function (s) {
      return row(s.name, s.state, [s.name, s.state, s.reason, s.last_message_at, s.lag_seconds, s.messages,
        s.reconnects, s.last_error]);
    }), status.streams.reason, 8);

    badge("starlistings", status.starlistings.state);
    fill("starlistings-body", status.starlistings.items.map(function (s) {
      return row(s.name, s.state, [s.name, s.state, s.reason, s.last_candle_time, s.behind_seconds, s.completeness,
        s.open_gaps]);
    }), status.starlistings.reason, 7);

    var ticks = status.ticks || { state: "green", reason: "", items: [] };
    badge("ticks", ticks.state);
    fill("ticks-body", ticks.items.map(function (t) {
      return row(t.name, t.state, [t.name, t.state, t.reason, t.trades_last_minute,
        t.book_in_sync === null ? null : String(t.book_in_sync), t.book_time, t.book_age_seconds]);
    }), ticks.reason, 7);

    var celery = status.celery;
    var workers = (celery.workers || []).map(function (w) { return w.name + " (" + (w.queues || []).join(", ") + ")"; });
    var queues = Object.keys(celery.queues || {}).map(function (q) { return q + " " + celery.queues[q]; });
    var db = status.database;
    fill("services-body", [
      service("websocket", "WebSocket", status.websocket,
        status.websocket.connections + " connections in " + status.websocket.processes + " process(es)"),
      service("celery", "Celery", celery, workers.join(" ") + " · queues: " + queues.join(" ")),
      service("beat", "Beat", status.beat, status.beat.last_task),
      service("backfill", "Backfill", status.backfill, (status.backfill.running || []).length + " running"),
      service("database", "Database", db, db.size_bytes + " bytes; growth " + text(db.growth_bytes) +
        " bytes over " + text(db.growth_window_seconds) + " s"),
      service("cache", "Response cache", status.cache, status.cache.enabled ? "hits " + text(status.cache.hits) +
        ", misses " + text(status.cache.misses) + ", refreshes " + text(status.cache.refreshes) + ", errors " +
        text(status.cache.errors) : ""),
      service("retention", "Retention", status.retention, "see Retention policies below"),
      service("backups", "Backups", status.backups,
        "newest verified: " + (status.backups.newest_verified || "none") + "; target " + status.backups.target),
      service("errors", "Errors", status.errors, ""),
    ], "", 4);

    badge("retention", status.retention.state);
    fill("retention-body", (status.retention.policies || []).map(function (p) {
      var tr = el("tr", { "data-name": p.name });
      [p.name, p.keep_days === null ? "forever" : p.keep_days, p.horizon, p.last_run_at, p.last_rows_freed,
        p.last_bytes_freed, p.last_error].forEach(function (cell) { tr.appendChild(el("td", {}, [text(cell)])); });
      return tr;
    }), status.retention.reason, 7);

    badge("backups", status.backups.state);
    fill("backups-body", (status.backups.recent || []).map(function (b) {
      var tr = el("tr", { "data-name": b.id });
      [b.id, b.database, b.status, b.created_at, b.size, b.written, b.verified_at, b.error].forEach(function (cell) {
        tr.appendChild(el("td", {}, [text(cell)]));
      });
      return tr;
    }), "no backup yet", 8);

    var errors = document.getElementById("errors-list");
    errors.textContent = "";
    var recent = status.errors.recent || [];
    if (!recent.length) { errors.appendChild(el("li", {}, ["none"])); }
    recent.forEach(function (e) {
      errors.appendChild(el("li", {}, [el("time", {}, [e.at]), " " + e.logger + ": " + e.message]));
    });

    replace("plot-ingest", sparkline(status.history.ingest_rate));
    replace("plot-ws", sparkline(status.history.ws_connections));
    replace("plot-freshness", freshness(status.starlistings.items));
  }

  function problem(message) {
    var node = document.getElementById("fetch-error");
    node.hidden = !message;
    node.textContent = message ? "· update failed: " + message : "";
  }

  function refresh() {
    fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (status) { render(status); problem(""); })
      .catch(function (error) { problem(error.message); })
      .then(function () { window.setTimeout(refresh, seconds * 1000); });
  }

  document.getElementById("live-note").hidden = false;
  window.setTimeout(refresh, seconds * 1000);
})();

// eventsweep's own script: histogram drag/click, live sweep progress over server-sent events.
// Every event field is attacker-controlled: text goes into the page with textContent only;
// no innerHTML, no eval, no inline handlers (the Content-Security-Policy forbids them anyway).
"use strict";

(function () {
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function levelClass(level) {
    var known = ["critical", "error", "warning", "info", "verbose", "audit_success", "audit_failure"];
    return known.indexOf(level) >= 0 ? "l-" + level.replace("_", "-") : "l-other";
  }

  // ---- histogram: drag across bars (or click one) to narrow the time range ------------------
  function setupHistogram(svg) {
    var bars = Array.prototype.slice.call(svg.querySelectorAll("a.bar"));
    var brush = svg.querySelector("rect.brush");
    if (!bars.length || !brush) return;
    var width = svg.viewBox.baseVal.width;
    var start = null, dragged = false;

    function unitX(event) {
      var box = svg.getBoundingClientRect();
      return Math.max(0, Math.min(width, (event.clientX - box.left) / box.width * width));
    }
    function barAt(x) {
      for (var i = 0; i < bars.length; i++) {
        var bx = parseFloat(bars[i].dataset.x), bw = parseFloat(bars[i].dataset.w);
        if (x >= bx && x < bx + bw) return i;
      }
      return bars.length - 1;
    }
    function narrow(first, last) {
      var params = new URLSearchParams(window.location.search);
      params.set("since", bars[first].dataset.start);
      params.set("until", bars[last].dataset.end);
      params.delete("after");
      window.location.assign("/?" + params.toString());
    }
    svg.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      start = unitX(event); dragged = false;
      svg.setPointerCapture(event.pointerId);
      event.preventDefault();
    });
    svg.addEventListener("pointermove", function (event) {
      if (start === null) return;
      var x = unitX(event);
      if (Math.abs(x - start) > 3) dragged = true;
      brush.setAttribute("x", String(Math.min(x, start)));
      brush.setAttribute("width", String(Math.abs(x - start)));
    });
    svg.addEventListener("pointerup", function (event) {
      if (start === null) return;
      var x = unitX(event), from = start;
      start = null;
      var first = barAt(Math.min(x, from)), last = barAt(Math.max(x, from));
      brush.setAttribute("width", "0");
      narrow(first, dragged ? last : first);
    });
    svg.addEventListener("click", function (event) { event.preventDefault(); });
  }

  // ---- live sweep ------------------------------------------------------------------------------
  function setupLive(section) {
    var id = section.dataset.id;
    var rows = section.querySelectorAll("#targets tbody tr");
    var recent = section.querySelector("#recent tbody");
    var stateText = section.querySelector("#live-state");
    var eventsText = section.querySelector("#live-events");
    var link = section.querySelector("#live-results");
    var cancelForm = section.querySelector("#cancel-form");

    function showState(state) {
      eventsText.textContent = String(state.events);
      stateText.textContent = state.running ? (state.cancelled ? "cancelling" : "running")
        : (state.cancelled ? "cancelled" : "ended");
      section.dataset.running = state.running ? "yes" : "no";
      state.targets.forEach(function (t, index) {
        var row = rows[index];
        if (!row) return;
        row.className = "st-" + t.state;
        row.querySelector(".status").textContent = t.state;
        row.querySelector(".events").textContent = String(t.events);
        row.querySelector(".elapsed").textContent = t.elapsed === null ? "" : String(t.elapsed);
        row.querySelector(".failure").textContent = t.error || "";
      });
      if (state.store_id && link) {
        link.setAttribute("href", "/?since=&sweep=" + encodeURIComponent(state.store_id));
        link.hidden = false;
      }
      if (state.error) {
        var shown = section.querySelector("#live-error");
        if (!shown) { shown = el("span", "", "error"); shown.id = "live-error"; section.querySelector(".summary").appendChild(shown); }
        shown.textContent = state.error;
      }
      if (!state.running && cancelForm) cancelForm.hidden = true;
    }

    function showEvents(events) {
      events.forEach(function (e) {
        var row = el("tr", null, levelClass(e.level));
        row.appendChild(el("td", (e.time || "").slice(0, 19).replace("T", " ")));
        row.appendChild(el("td", e.level));
        row.appendChild(el("td", e.computer));
        row.appendChild(el("td", e.event_id === null ? "" : e.event_id));
        row.appendChild(el("td", e.source));
        row.appendChild(el("td", e.message, "message"));
        recent.insertBefore(row, recent.firstChild);
      });
      while (recent.rows.length > 100) recent.deleteRow(recent.rows.length - 1);
    }

    if (cancelForm) {
      cancelForm.addEventListener("submit", function (event) {
        event.preventDefault();
        fetch("/api/live/" + encodeURIComponent(id) + "/cancel", {
          method: "POST", headers: {"X-CSRF-Token": csrf()}, credentials: "same-origin"
        });
        stateText.textContent = "cancelling";
      });
    }
    if (section.dataset.running !== "yes" || !window.EventSource) return;
    var seen = parseInt(section.dataset.seen || "0", 10) || 0;  // events the page came with
    var source = new EventSource("/api/live/" + encodeURIComponent(id) + "/stream?seen=" + seen);
    source.addEventListener("state", function (m) { showState(JSON.parse(m.data)); });
    source.addEventListener("events", function (m) { showEvents(JSON.parse(m.data)); });
    source.addEventListener("end", function (m) { showState(JSON.parse(m.data)); source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var svg = document.querySelector("#histogram svg");
    if (svg) setupHistogram(svg);
    var live = document.getElementById("live");
    if (live) setupLive(live);
  });
})();

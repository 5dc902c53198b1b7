// The Nimbus console's only script: the Test tab, the Monitor charts (uPlot) and the live log tail (SSE).
// Plain JavaScript, no build step; every mutating call carries the session's CSRF token.
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";
  const $ = (id) => document.getElementById(id);

  // ---- a queue's send and receive test ----
  const queue = $("queue-test");
  if (queue) {
    const url = queue.dataset.root + "/queues/" + encodeURIComponent(queue.dataset.queue);
    const post = async (path, body) => {
      const resp = await fetch(url + path, { method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const data = await resp.json().catch(() => ({}));
      if (!resp.ok) throw new Error(data.message || resp.statusText);
      return data;
    };
    const show = (text, bad) => { $("queue-result").textContent = text; $("queue-result").className = bad ? "bad" : "good"; };
    $("send").addEventListener("click", async () => {
      try { show("Sent: " + (await post("/send", { body: $("message-body").value })).MessageId); }
      catch (e) { show(e.message, true); }
    });
    $("receive").addEventListener("click", async () => {
      try {
        const got = (await post("/receive", {})).Messages;
        show(got.length + " message(s) received (in flight until their visibility timeout ends)");
        $("received").hidden = false;
        $("received").textContent = got.map((m) => m.MessageId + "  " + m.Body).join("\n");
      } catch (e) { show(e.message, true); }
    });
  }

  const page = document.getElementById("function");
  if (!page) return;
  const root = page.dataset.root, name = page.dataset.name;
  const base = root + "/functions/" + encodeURIComponent(name);

  async function call(method, path, body) {
    const init = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) { init.body = body; init.headers["Content-Type"] = "application/json"; }
    const resp = await fetch(base + path, init);
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new Error(data.message || resp.statusText);
    return data;
  }

  // ---- Test tab ----
  if ($("test")) {
    const payload = $("payload"), error = $("payload-error"), saved = $("saved"), eventName = $("event-name");
    const fact = (k, v) => { const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k; dd.textContent = v; $("result-facts").append(dt, dd); };
    function checkJson() {
      try { JSON.parse(payload.value); error.hidden = true; return true; }
      catch (e) { error.textContent = "Not valid JSON: " + e.message; error.hidden = false; return false; }
    }
    payload.addEventListener("input", checkJson);
    saved.addEventListener("change", async () => {
      if (!saved.value) return;
      const ev = await call("GET", "/events/" + encodeURIComponent(saved.value));
      payload.value = ev.payload; eventName.value = ev.name; checkJson();
    });
    $("save").addEventListener("click", async () => {
      if (!checkJson()) return;
      try {
        await call("POST", "/events", JSON.stringify({ name: eventName.value, payload: payload.value }));
        if (![...saved.options].some((o) => o.value === eventName.value)) saved.add(new Option(eventName.value, eventName.value));
        saved.value = eventName.value; error.hidden = true;
      } catch (e) { error.textContent = e.message; error.hidden = false; }
    });
    $("delete").addEventListener("click", async () => {
      if (!saved.value) return;
      await call("DELETE", "/events/" + encodeURIComponent(saved.value));
      saved.remove(saved.selectedIndex); saved.value = "";
    });
    $("invoke").addEventListener("click", async () => {
      if (!checkJson()) return;
      $("invoke").disabled = true;
      try {
        const r = await call("POST", "/invoke", payload.value);
        $("result").dataset.at = String(Date.now());  // when the answer came (the tail's latency is read from it)
        $("result").hidden = false; $("result-facts").textContent = "";
        $("result-status").textContent = r.function_error ? "Failed: " + r.function_error : "Succeeded";
        $("result-status").className = r.function_error ? "bad" : "good";
        fact("Status", r.status); fact("Request ID", r.request_id); fact("Version", r.version);
        if (r.duration_ms !== undefined) {
          fact("Duration", r.duration_ms + " ms"); fact("Billed duration", r.billed_ms + " ms");
          fact("Max memory used", r.max_memory_mb + " / " + r.memory_mb + " MB");
          fact("Init duration", r.init_ms == null ? "– (warm)" : r.init_ms + " ms");
        }
        $("result-response").textContent = r.response; $("result-log").textContent = r.log;
      } catch (e) {
        $("result").hidden = false; $("result-facts").textContent = "";
        $("result-status").textContent = "Error: " + e.message; $("result-status").className = "bad";
      } finally { $("invoke").disabled = false; }
    });
  }

  // ---- Monitor tab ----
  const charts = $("charts");
  if (charts && window.uPlot) {
    const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
    const axis = { stroke: dark ? "#aab" : "#555", grid: { stroke: dark ? "#334" : "#e4e4e8" } };
    const series = {
      invocations: [["invocations", "#3b82f6"]], errors: [["errors", "#ef4444"]], throttles: [["throttles", "#f59e0b"]],
      duration: [["p50", "#10b981"], ["p99", "#8b5cf6"]], concurrency: [["concurrency", "#0ea5e9"]],
      cold_starts: [["cold_starts", "#ec4899"]],
    };
    const plots = {};
    async function draw(range) {
      const data = await call("GET", "/series?range=" + range);
      const xs = data.points.map((p) => p.t);
      for (const el of charts.querySelectorAll(".plot")) {
        const key = el.dataset.chart, lines = series[key];
        const ys = lines.map(([k]) => data.points.map((p) => p[k]));
        const width = Math.max(240, el.clientWidth);
        if (plots[key]) plots[key].destroy();
        plots[key] = new uPlot({
          width, height: 160, legend: { show: lines.length > 1 }, axes: [axis, axis],
          scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
          series: [{}, ...lines.map(([k, color]) => ({ label: k, stroke: color, width: 2, spanGaps: false,
            points: { show: true, size: 4 }, fill: lines.length === 1 ? color + "22" : undefined }))],
        }, [xs, ...ys], el);
        el.dataset.points = String(ys[0].filter((v) => v !== null && v !== 0).length);
      }
      charts.dataset.ready = range;
    }
    for (const b of document.querySelectorAll("button.range")) {
      b.addEventListener("click", () => {
        document.querySelectorAll("button.range").forEach((x) => x.classList.toggle("on", x === b));
        draw(b.dataset.range);
      });
    }
    draw("1h");
    setInterval(() => draw(document.querySelector("button.range.on").dataset.range), 10000);
  }

  // ---- Logs tab ----
  const tail = $("tail");
  if (tail) {
    const filter = $("log-filter"), pause = $("pause"), state = $("tail-state");
    let paused = false; const held = [];
    const shows = (line) => !filter.value || line.dataset.message.includes(filter.value);
    function add(ev) {
      const line = document.createElement("div");
      line.className = "line"; line.dataset.message = ev.message; line.dataset.at = String(Date.now());
      const time = document.createElement("time");
      time.textContent = new Date(ev.t).toISOString().slice(11, 23) + " ";
      line.append(time);
      if (ev.report) {
        const a = document.createElement("a");
        a.href = base + "/invocations/" + ev.report; a.textContent = ev.message; a.className = "report";
        line.append(a);
      } else { line.append(document.createTextNode(ev.message)); }
      line.hidden = !shows(line);
      tail.append(line);
      while (tail.childElementCount > 2000) tail.firstElementChild.remove();
      tail.scrollTop = tail.scrollHeight;
    }
    const source = new EventSource(base + "/tail");
    source.onopen = () => { state.textContent = "live"; };
    source.onerror = () => { state.textContent = "reconnecting…"; };
    source.onmessage = (m) => { const ev = JSON.parse(m.data); if (paused) held.push(ev); else add(ev); };
    pause.addEventListener("click", () => {
      paused = !paused; pause.textContent = paused ? "Resume" : "Pause";
      state.textContent = paused ? "paused" : "live";
      if (!paused) held.splice(0).forEach(add);
    });
    filter.addEventListener("input", () => { for (const l of tail.children) l.hidden = !shows(l); });
  }
})();

// The inspector page: renders /inspect/state as it arrives over server-sent events and
// switches the chaos knobs. `?token=` (when the server needs one) is passed on.
"use strict";
(() => {
  const token = new URL(location.href).searchParams.get("token");
  const withToken = (path) => (token ? `${path}?token=${encodeURIComponent(token)}` : path);
  const base = location.pathname.replace(/\/?$/, "/");
  const $ = (id) => document.getElementById(id);
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text ?? "";
    if (cls) td.className = cls;
    return td;
  };

  function renderUploads(uploads) {
    const rows = uploads.map((u) => {
      const tr = document.createElement("tr");
      tr.dataset.upload = u.id;
      const map = document.createElement("div");
      map.className = "map";
      u.chunks.forEach((state, index) => {
        const box = document.createElement("i");
        box.className = `chunk ${state}`;
        box.dataset.index = index;
        box.dataset.state = state;
        box.title = `chunk ${index}: ${state}`;
        map.append(box);
      });
      const chunks = cell("");
      chunks.append(map);
      tr.append(cell(u.id), cell(u.protocol), cell(u.fileName), cell(u.state),
        cell(`${u.received} / ${u.size ?? "?"}`), chunks);
      return tr;
    });
    $("uploads").replaceChildren(...rows);
  }

  function renderRequests(requests) {
    const rows = requests.slice().reverse().map((r) => {
      const tr = document.createElement("tr");
      if (r.status >= 400) tr.className = "error";
      tr.dataset.status = r.status;
      tr.title = `X-Request-Id: ${r.requestId}`;
      tr.append(cell(new Date(r.time * 1000).toLocaleTimeString()), cell(r.method), cell(r.path),
        cell(String(r.status), "status"), cell(String(r.ms)), cell(r.error, "err"));
      return tr;
    });
    $("requests").replaceChildren(...rows);
  }

  function renderChaos(chaos) {
    const form = $("chaos");
    for (const name of ["fail", "delay", "cut", "delay_max"]) {
      if (document.activeElement !== form.elements[name]) form.elements[name].value = chaos[name];
    }
    const on = chaos.fail || chaos.delay || chaos.cut;
    $("chaos-state").textContent = on ? "chaos ON" : "off";
  }

  function render(state) {
    renderUploads(state.uploads);
    renderRequests(state.requests);
    renderChaos(state.chaos);
    window.inspectorState = state;
  }

  $("chaos").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = Object.fromEntries(
      ["fail", "delay", "cut", "delay_max"].map((k) => [k, Number(form.elements[k].value || 0)]),
    );
    const response = await fetch(withToken(`${base}chaos`), {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) $("chaos-state").textContent = answer.error?.message ?? "refused";
    else renderChaos(answer);
  });

  const events = new EventSource(withToken(`${base}events`));
  events.addEventListener("state", (event) => {
    $("live").textContent = `live — updated ${new Date().toLocaleTimeString()}`;
    $("live").className = "on";
    render(JSON.parse(event.data));
  });
  events.addEventListener("error", () => {
    $("live").textContent = "reconnecting…";
    $("live").className = "";
  });
})();

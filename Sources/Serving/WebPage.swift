/// The page `orthocxr serve` shows at /: one file, no external assets, so it works offline.
enum WebPage {
  static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>OrthoCXR</title>
    <style>
      body { font-family: system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2430; }
      header { background: #1d2430; color: #fff; padding: 12px 24px; }
      header h1 { margin: 0; font-size: 20px; }
      header p { margin: 4px 0 0; font-size: 13px; color: #c8ced8; }
      main { display: grid; grid-template-columns: minmax(560px, 3fr) 2fr; gap: 20px; padding: 20px 24px; }
      section { background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
      h2 { font-size: 16px; margin: 0 0 12px; }
      #drop { border: 2px dashed #8a94a6; border-radius: 8px; padding: 24px; text-align: center; color: #56607a; }
      #drop.over { background: #e8f0ff; border-color: #2f6fed; }
      .controls { display: flex; gap: 16px; align-items: center; margin: 12px 0; flex-wrap: wrap; font-size: 14px; }
      .result { display: grid; grid-template-columns: 256px 1fr; gap: 16px; border-top: 1px solid #e3e6ec; padding: 12px 0; }
      .stack { position: relative; width: 256px; height: 256px; background: #000; }
      .stack img { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain; }
      .bar { height: 10px; background: #2f6fed; border-radius: 4px; }
      .row { display: grid; grid-template-columns: 90px 1fr 52px; gap: 8px; align-items: center; font-size: 14px; margin: 4px 0; }
      .class { font-size: 18px; font-weight: 600; }
      .note { font-size: 12px; color: #56607a; }
      .error { color: #b3261e; }
      table { border-collapse: collapse; width: 100%; font-size: 12px; }
      td, th { text-align: left; padding: 3px 4px; border-bottom: 1px solid #eef0f4; }
      dl { font-size: 13px; margin: 0; } dt { color: #56607a; } dd { margin: 0 0 6px; }
    </style>
    </head>
    <body>
    <header>
      <h1>OrthoCXR — chest X-ray classification</h1>
      <p id="use">Research use only. Not a medical device: every answer needs a clinician's reading.</p>
    </header>
    <main>
      <section>
        <h2>Images</h2>
        <div id="drop">Drop PNG, JPEG or DICOM files here, or <input id="files" type="file" multiple></div>
        <div class="controls">
          <label>Heatmap <select id="method">
            <option value="gradcam">Grad-CAM</option><option value="gradcam++">Grad-CAM++</option>
            <option value="hirescam">HiResCAM</option><option value="layercam">LayerCAM</option>
            <option value="scorecam">Score-CAM</option><option value="">none</option></select></label>
          <label>Opacity <input id="opacity" type="range" min="0" max="1" step="0.05" value="0.6"></label>
          <label>Token <input id="token" type="password" placeholder="if the server needs one"></label>
        </div>
        <div id="results"></div>
      </section>
      <div>
        <section><h2>Model</h2><div id="card">loading…</div></section>
        <section style="margin-top:20px"><h2>Recent predictions</h2><div id="recent" class="note">none yet</div></section>
      </div>
    </main>
    <script>
    const $ = (id) => document.getElementById(id);
    const headers = () => $("token").value ? { "Authorization": "Bearer " + $("token").value } : {};
    const percent = (p) => (100 * p).toFixed(1) + "%";
    const escape = (text) => String(text).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

    async function loadCard() {
      const response = await fetch("/v1/model", { headers: headers() });
      if (!response.ok) { $("card").innerHTML = '<span class="error">' + escape((await response.json()).error) + '</span>'; return; }
      const card = await response.json();
      let html = "<dl><dt>Model</dt><dd>" + escape(card.architecture) + ", " + card.imageSize + " px, " + card.channels +
        " channel(s)</dd><dt>Classes</dt><dd>" + card.classes.map(escape).join(", ") + "</dd><dt>Calibration</dt><dd>" +
        (card.calibrated ? "temperature " + card.temperature.toFixed(3) : "not calibrated: probabilities are raw") + "</dd>";
      if (card.outOfDistribution) html += "<dt>Out of distribution</dt><dd>" + escape(card.outOfDistribution.method) +
        " score above " + card.outOfDistribution.threshold.toPrecision(4) + " is flagged; fitted on " +
        escape(card.outOfDistribution.fittedOn) + "</dd>";
      if (card.training) html += "<dt>Training data</dt><dd>train " + escape(card.training.train) + "<br>val " +
        escape(card.training.val) + "<br>test " + escape(card.training.test) + "</dd><dt>Loss</dt><dd>λ = " + card.training.lambda +
        " (" + escape(card.training.osVariant) + "), " + card.training.epochs + " epochs</dd>";
      const interval = (m, scale, digits) => m && typeof m.value === "number" ? (m.value * scale).toFixed(digits) +
        (typeof m.low === "number" ? " [" + (m.low * scale).toFixed(digits) + ", " + (m.high * scale).toFixed(digits) + "]" : "") : null;
      if (card.testMetrics) {
        const t = card.testMetrics, u = card.testMetricsUncalibrated || {};
        const parts = [["accuracy", interval(t.accuracy, 100, 1), "%"], ["macro-F1", interval(t.macroF1, 100, 1), "%"],
          ["macro AUC", interval(t.macroAUC, 1, 3), ""], ["ECE", interval(t.ece, 1, 3), ""],
          ["ECE before calibration", interval(u.ece, 1, 3), ""]].filter((p) => p[1] !== null);
        html += "<dt>Test metrics (95% intervals)</dt><dd>" + parts.map((p) => escape(p[0] + " " + p[1] + p[2])).join("<br>") + "</dd>";
      }
      html += "<dt>Date</dt><dd>" + escape(card.date || "unknown") + "</dd><dt>Intended use</dt><dd>" + escape(card.intendedUse) + "</dd></dl>";
      $("card").innerHTML = html;
    }

    async function loadRecent() {
      const response = await fetch("/v1/recent", { headers: headers() });
      if (!response.ok) return;
      const records = (await response.json()).records;
      if (!records.length) return;
      $("recent").innerHTML = "<table><tr><th>time</th><th>class</th><th>ms</th><th>status</th></tr>" + records.map((r) =>
        "<tr><td>" + new Date(r.time * 1000).toLocaleTimeString() + "</td><td>" + escape(r.predictedClass || r.outcome) +
        "</td><td>" + r.latencyMilliseconds.toFixed(0) + "</td><td>" + r.status + "</td></tr>").join("") + "</table>";
    }

    async function predict(file) {
      const item = document.createElement("div");
      item.className = "result";
      item.innerHTML = '<div class="stack"></div><div><div class="class">' + escape(file.name) + ' …</div></div>';
      $("results").prepend(item);
      const method = $("method").value;
      const response = await fetch("/v1/predictions" + (method ? "?heatmap=" + encodeURIComponent(method) : ""),
        { method: "POST", headers: headers(), body: file });
      const answer = await response.json();
      const info = item.children[1];
      if (!response.ok) { info.innerHTML = '<div class="error">' + escape(file.name) + ": " + escape(answer.error) + "</div>"; return; }
      const stack = item.children[0];
      if (answer.inputFormat !== "dicom") {
        const base = document.createElement("img"); base.src = URL.createObjectURL(file); base.alt = "X-ray"; stack.append(base);
      }
      if (answer.heatmap) {
        const overlay = document.createElement("img");
        overlay.src = "data:image/png;base64," + answer.heatmap.overlayPNG; overlay.className = "overlay"; overlay.alt = "heatmap";
        overlay.style.opacity = answer.inputFormat === "dicom" ? 1 : $("opacity").value; stack.append(overlay);
      }
      const rows = Object.entries(answer.probabilities).sort((a, b) => b[1] - a[1]).map(([name, p]) =>
        '<div class="row"><span>' + escape(name) + '</span><div class="bar" style="width:' + percent(p) + '"></div><span>' + percent(p) + "</span></div>").join("");
      const ood = answer.outOfDistribution;
      const verdict = ood && ood.flagged ? '<div class="error">outside the training distribution: ' + escape(ood.method) +
        " score " + ood.score.toPrecision(4) + " &gt; threshold " + ood.threshold.toPrecision(4) + "</div>" : "";
      const shown = answer.abstained ? "no answer" : answer.class;
      info.innerHTML = '<div class="class" data-class="' + escape(shown) + '">' + escape(shown) + "</div>" + verdict +
        '<div class="note">' + escape(file.name) + " · " + (answer.calibrated ? "calibrated" : "uncalibrated") + " probabilities · " +
        answer.latencyMilliseconds.toFixed(0) + " ms · batch of " + answer.batchSize + "</div>" + rows;
      loadRecent();
    }

    $("files").addEventListener("change", (event) => { for (const file of event.target.files) predict(file); });
    $("drop").addEventListener("dragover", (event) => { event.preventDefault(); $("drop").classList.add("over"); });
    $("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
    $("drop").addEventListener("drop", (event) => {
      event.preventDefault(); $("drop").classList.remove("over");
      for (const file of event.dataTransfer.files) predict(file);
    });
    $("opacity").addEventListener("input", () => {
      for (const overlay of document.querySelectorAll("img.overlay")) overlay.style.opacity = $("opacity").value;
    });
    $("token").addEventListener("change", () => { loadCard(); loadRecent(); });
    loadCard(); loadRecent();
    </script>
    </body>
    </html>
    """#
}

// How long the scorecard's first view takes in headless Chromium: from navigation start to the moment the page
// shows the unit's total (the page records it as `window.scorecardFirstView`, from `performance.now()`), and to
// the moment everything of the first view (report, series chart, ranking) is on the page.
//   node --experimental-websocket bench/scorecard-first-view.mjs http://127.0.0.1:8080 [rounds] [hash]
// Each round uses a fresh browser profile (nothing cached by the browser). Prints each round and the medians.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = process.argv[2] ?? "http://127.0.0.1:8080";
const rounds = Number(process.argv[3] ?? 5);
const hash = process.argv[4] ?? "#unit=49&year=2024";
const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";

async function once() {
  const profile = mkdtempSync(join(tmpdir(), "scorecard-"));
  const child = spawn(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1200,1600",
    "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank"], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    const port = await new Promise((resolve, reject) => {
      let text = "";
      child.stderr.on("data", (d) => {
        text += d;
        const m = text.match(/ws:\/\/127\.0\.0\.1:(\d+)\//);
        if (m) resolve(m[1]);
      });
      child.on("exit", () => reject(new Error("chromium ended")));
    });
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const ws = new WebSocket(targets.find((t) => t.type === "page").webSocketDebuggerUrl);
    await new Promise((r) => ws.addEventListener("open", r, { once: true }));
    let id = 0;
    const waiting = new Map();
    ws.addEventListener("message", (e) => {
      const m = JSON.parse(e.data);
      if (waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
    });
    const call = (method, params = {}) => new Promise((r) => { waiting.set(++id, r); ws.send(JSON.stringify({ id, method, params })); });
    const evaluate = async (expression) =>
      (await call("Runtime.evaluate", { expression, returnByValue: true })).result?.result?.value;
    await call("Page.enable");
    await call("Page.navigate", { url: `${base}/scorecard${hash}` });
    const start = Date.now();
    let first = null;
    let all = null;
    while (Date.now() - start < 30000) {
      first ??= await evaluate("window.scorecardFirstView ?? null");
      if (first !== null && (await evaluate("document.body.dataset.loaded ?? null"))) {
        all = await evaluate("performance.now()");
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    ws.close();
    return { first, all };
  } finally {
    const exited = new Promise((r) => child.on("exit", r));
    child.kill();
    await exited;
    // Chromium's helper processes may still be writing to the profile: retry a little, then leave it.
    for (let i = 0; i < 20; i++) {
      try { rmSync(profile, { recursive: true, force: true }); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
    }
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const firsts = [];
const alls = [];
for (let r = 1; r <= rounds; r++) {
  const { first, all } = await once();
  firsts.push(first);
  alls.push(all);
  console.log(`round ${r}: total shown after ${first?.toFixed(0)} ms, whole first view after ~${all?.toFixed(0)} ms`);
}
console.log(`median: total shown after ${median(firsts).toFixed(0)} ms, whole first view after ~${median(alls).toFixed(0)} ms (target: under 1000 ms)`);

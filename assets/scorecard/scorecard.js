// The Decision 766 scorecard: reads the gateway's public GraphQL API (indicators, ranking, indicatorSeries,
// indicatorBreakdown) and, with a LEADER or ADMIN token pasted by the user, the drill-down lists. No build step:
// plain browser JavaScript; the chart is uPlot, vendored beside this file.
"use strict";

const TEXT = {
  vi: {
    skip: "Bỏ qua đến nội dung", title: "Bộ chỉ số phục vụ người dân, doanh nghiệp (QĐ 766/QĐ-TTg)",
    controls: "Chọn đơn vị và kỳ", unit: "Đơn vị", period: "Kỳ", year: "Năm", quarter: "Quý", month: "Tháng",
    yearLabel: "Năm", part: "Quý/Tháng", show: "Xem",
    tokenTitle: "Cán bộ (LEADER/ADMIN): dán mã truy cập để xem hồ sơ", token: "Mã truy cập (JWT)",
    useToken: "Dùng mã", forgetToken: "Bỏ mã", total: "Tổng điểm", groups: "Nhóm chỉ số và chỉ số",
    metric: "Chỉ số", numerator: "Đạt", denominator: "Tổng", ratio: "Tỷ lệ", score: "Điểm", lost: "Điểm mất",
    actions: "Thao tác", by: "Chia theo", byUnit: "Đơn vị trực thuộc", bySector: "Lĩnh vực",
    byProcedure: "Thủ tục", code: "Mã", name: "Tên", more: "Xem thêm", series: "Diễn biến theo tháng",
    cumulative: "Lũy kế từ đầu năm", seriesTable: "Bảng số liệu", monthCol: "Tháng", grade: "Xếp loại",
    ranking: "Xếp hạng các đơn vị trực thuộc", rank: "Hạng",
    noRanking: "Đơn vị này không có đơn vị trực thuộc được xếp hạng.",
    footer: "Số liệu từ API GraphQL của dvc-gateway (/graphql); công thức",
    breakdown: "Phân tích", records: "Hồ sơ", breakdownOf: "Phân tích chỉ số", recordsOf: "Hồ sơ làm mất điểm:",
    asOf: "Tính đến", merged: "sáp nhập vào", from: "từ", own: "Hồ sơ của chính đơn vị",
    noProcedure: "Không gắn thủ tục", none: "Không có.", loading: "Đang tải…",
    unreachable: "Không kết nối được với máy chủ dvc-gateway. Kiểm tra kết nối rồi thử lại.",
    tokenOn: "Đang dùng mã truy cập của cán bộ.", tokenOff: "Chưa có mã truy cập: chỉ xem số liệu công khai.",
    badResponse: "Máy chủ trả lời không hợp lệ", q: "Quý", m: "Tháng",
    EXCELLENT: "Xuất sắc", GOOD: "Tốt", FAIR: "Khá", AVERAGE: "Trung bình", WEAK: "Yếu",
    TRANSPARENCY: "Công khai, minh bạch", PROGRESS: "Tiến độ giải quyết", ONLINE_SERVICE: "Dịch vụ trực tuyến",
    ONLINE_PAYMENT: "Thanh toán trực tuyến", SATISFACTION: "Mức độ hài lòng", DIGITIZATION: "Số hóa hồ sơ",
    PUBLISH_ON_TIME: "Công bố TTHC đúng hạn", PUBLIC_UPDATE_ON_TIME: "Công khai TTHC đúng hạn",
    PUBLIC_CONTENT_FULL: "Công khai đầy đủ nội dung TTHC", DOSSIER_SYNC: "Đồng bộ hồ sơ lên Cổng DVCQG",
    ON_TIME_PROCESSING: "Giải quyết hồ sơ đúng hạn", FULL_ONLINE_DOSSIERS: "Hồ sơ trực tuyến toàn trình",
    PAID_ONLINE_DOSSIERS: "Hồ sơ thanh toán trực tuyến", PROCEDURES_PAID_ONLINE: "TTHC có thanh toán trực tuyến",
    PROCEDURES_WITH_RECEIPTS: "TTHC có biên lai", DOSSIER_SATISFACTION: "Hài lòng về giải quyết hồ sơ",
    PAKN_ON_TIME: "Xử lý phản ánh, kiến nghị đúng hạn", PAKN_SATISFACTION: "Hài lòng về xử lý phản ánh, kiến nghị",
    ELECTRONIC_RESULT: "Cấp kết quả điện tử", DIGITIZED_DOSSIERS: "Số hóa hồ sơ, kết quả",
    ELECTRONIC_CERTIFIED_COPY: "Chứng thực điện tử (cấp xã)", REUSED_DIGITIZED_DATA: "Tái sử dụng dữ liệu số hóa",
    SHARED_TO_CITIZEN_STORAGE: "Kho dữ liệu công dân", VNEID_DOSSIERS: "Hồ sơ xác thực VNeID",
    VNEID_PROCEDURES: "TTHC có hồ sơ xác thực VNeID",
  },
  en: {
    skip: "Skip to content", title: "Service-quality indicators for citizens and businesses (Decision 766/QĐ-TTg)",
    controls: "Choose a unit and a period", unit: "Unit", period: "Period", year: "Year", quarter: "Quarter",
    month: "Month", yearLabel: "Year", part: "Quarter/month", show: "Show",
    tokenTitle: "Staff (LEADER/ADMIN): paste an access token to see the records", token: "Access token (JWT)",
    useToken: "Use token", forgetToken: "Forget token", total: "Total", groups: "Groups and metrics",
    metric: "Metric", numerator: "Passing", denominator: "Counted", ratio: "Ratio", score: "Points",
    lost: "Points lost", actions: "Actions", by: "Group by", byUnit: "Child unit", bySector: "Sector",
    byProcedure: "Procedure", code: "Code", name: "Name", more: "Show more", series: "Month by month",
    cumulative: "Cumulative from the start of the year", seriesTable: "Data table", monthCol: "Month",
    grade: "Grade", ranking: "Ranking of the child units", rank: "Rank",
    noRanking: "This unit has no ranked child units.",
    footer: "Figures from the dvc-gateway GraphQL API (/graphql); formula",
    breakdown: "Breakdown", records: "Records", breakdownOf: "Breakdown of", recordsOf: "Records that cost points:",
    asOf: "As of", merged: "merged into", from: "from", own: "The unit's own records",
    noProcedure: "No procedure", none: "None.", loading: "Loading…",
    unreachable: "Cannot reach the dvc-gateway server. Check the connection and try again.",
    tokenOn: "Using a staff access token.", tokenOff: "No access token: public figures only.",
    badResponse: "The server gave an invalid answer", q: "Q", m: "Month",
    EXCELLENT: "Excellent", GOOD: "Good", FAIR: "Fair", AVERAGE: "Average", WEAK: "Weak",
    TRANSPARENCY: "Transparency", PROGRESS: "Progress", ONLINE_SERVICE: "Online service",
    ONLINE_PAYMENT: "Online payment", SATISFACTION: "Satisfaction", DIGITIZATION: "Digitization",
    PUBLISH_ON_TIME: "Procedures announced on time", PUBLIC_UPDATE_ON_TIME: "Procedures published on time",
    PUBLIC_CONTENT_FULL: "Procedures published in full", DOSSIER_SYNC: "Dossiers synced to the national portal",
    ON_TIME_PROCESSING: "Dossiers processed on time", FULL_ONLINE_DOSSIERS: "Fully online dossiers",
    PAID_ONLINE_DOSSIERS: "Dossiers paid online", PROCEDURES_PAID_ONLINE: "Procedures with online payment",
    PROCEDURES_WITH_RECEIPTS: "Procedures with receipts", DOSSIER_SATISFACTION: "Satisfaction with dossiers",
    PAKN_ON_TIME: "Feedback answered on time", PAKN_SATISFACTION: "Satisfaction with feedback handling",
    ELECTRONIC_RESULT: "Electronic results", DIGITIZED_DOSSIERS: "Digitized dossiers and results",
    ELECTRONIC_CERTIFIED_COPY: "Electronic certified copies (communes)", REUSED_DIGITIZED_DATA: "Reused digitized data",
    SHARED_TO_CITIZEN_STORAGE: "Citizen data storage", VNEID_DOSSIERS: "VNeID-verified dossiers",
    VNEID_PROCEDURES: "Procedures with VNeID dossiers",
  },
};

const PROCEDURE_METRICS = ["PUBLISH_ON_TIME", "PUBLIC_UPDATE_ON_TIME", "PUBLIC_CONTENT_FULL",
  "PROCEDURES_PAID_ONLINE", "PROCEDURES_WITH_RECEIPTS", "VNEID_PROCEDURES"];
const PAKN_METRICS = ["PAKN_ON_TIME", "PAKN_SATISFACTION"];
const LEVEL_ORDER = ["NATIONAL", "MINISTRY", "PROVINCE", "DEPARTMENT", "DISTRICT", "COMMUNE"];

const REPORT = `query Scorecard($u: String!, $p: PeriodInput!) { indicators(unitCode: $u, period: $p) {
  unitCode formulaVersion periodStart periodEnd asOf total grade
  groups { key score maxScore metrics { key numerator denominator ratio score maxScore } } } }`;
const SERIES = `query ScorecardSeries($u: String!, $from: Date!, $to: Date!, $c: Boolean) {
  indicatorSeries(unitCode: $u, from: $from, to: $to, step: MONTH, cumulative: $c) { periodStart total grade } }`;
const RANKING = `query ScorecardRanking($level: UnitLevel!, $u: String!, $p: PeriodInput!) {
  ranking(level: $level, parentCode: $u, period: $p) { rank of unitCode unitName total grade } }`;
const BREAKDOWN = `query ScorecardBreakdown($u: String!, $p: PeriodInput!, $m: MetricKey!, $by: BreakdownBy!,
  $after: String) { indicatorBreakdown(unitCode: $u, period: $p, metric: $m, by: $by, first: 20, after: $after) {
  numerator denominator pointsLost totalCount pageInfo { hasNextPage endCursor }
  edges { node { kind code name numerator denominator ratio pointsLost } } } }`;
const UNITS = `query ScorecardUnits { units { code name level parentCode validFrom validTo successorCode } }`;

const state = {
  lang: "vi", token: null, units: [], report: null, series: null, ranking: null,
  metric: null, by: "CHILD_UNIT", groups: [], after: null, generation: 0,
  // Each kind of answer is taken only from the latest request of its kind (older answers are dropped).
  groupsTicket: 0, seriesTicket: 0, recordsTicket: 0,
};
const $ = (id) => document.getElementById(id);
const t = (key) => TEXT[state.lang][key] ?? key;

function fmt(n, digits = 2) {
  if (n === null || n === undefined) return "—";
  return new Intl.NumberFormat(state.lang === "vi" ? "vi-VN" : "en-GB",
    { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(n);
}
function pct(r) { return r === null || r === undefined ? "—" : fmt(r * 100, 1) + " %"; }
function int(n) { return fmt(n, 0); }

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

// One GraphQL request; every failure becomes an Error whose message a person can read.
async function gql(query, variables) {
  const headers = { "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (_) {
    throw new Error(t("unreachable"));
  }
  let body;
  try { body = await response.json(); } catch (_) {
    throw new Error(response.status >= 500 || response.status === 0 ? t("unreachable") : `${t("badResponse")} (${response.status})`);
  }
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    const code = e.extensions && e.extensions.code ? ` [${e.extensions.code}]` : "";
    throw new Error(e.message + code);
  }
  if (!body.data) throw new Error(`${t("badResponse")} (${response.status})`);
  return body.data;
}

function showError(e) {
  const box = $("error");
  box.textContent = e ? e.message : "";
  box.hidden = !e;
}

// The period as the form has it, as a PeriodInput, its text, and the series range of its year.
function period() {
  const year = Number($("year").value);
  const kind = $("kind").value;
  const part = Number($("part").value) || 1;
  const input = { year };
  let text = `${t("year")} ${year}`;
  if (kind === "quarter") { input.quarter = part; text = `${t("q")} ${part}/${year}`; }
  if (kind === "month") { input.month = part; text = `${t("m")} ${part}/${year}`; }
  return { input, text, year };
}

function unitByCode(code) { return state.units.find((u) => u.code === code); }

function unitLabel(u) {
  let label = `${u.name} (${u.code})`;
  if (u.validTo && u.successorCode) {
    const s = unitByCode(u.successorCode);
    label += ` — ${t("merged")} ${s ? s.name : u.successorCode} ${t("from")} ${u.validTo}`;
  }
  return label;
}

// The unit picker: the tree in depth-first order, indented by depth, merged units under their parents.
function fillUnits() {
  const select = $("unit");
  const current = select.value || location.hash && new URLSearchParams(location.hash.slice(1)).get("unit");
  const children = new Map();
  for (const u of state.units) {
    const key = u.parentCode || "";
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(u);
  }
  for (const list of children.values()) {
    list.sort((a, b) => LEVEL_ORDER.indexOf(a.level) - LEVEL_ORDER.indexOf(b.level) || a.code.localeCompare(b.code));
  }
  select.replaceChildren();
  const known = new Set(state.units.map((u) => u.code));
  const roots = state.units.filter((u) => !u.parentCode || !known.has(u.parentCode));
  const walk = (u, depth) => {
    select.append(el("option", { value: u.code }, "\u00a0\u00a0".repeat(depth) + unitLabel(u)));
    for (const c of children.get(u.code) || []) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  if (current && known.has(current)) select.value = current;
}

function childLevel(code) {
  const counts = new Map();
  for (const u of state.units) {
    if (u.parentCode === code && u.level !== "DEPARTMENT") counts.set(u.level, (counts.get(u.level) || 0) + 1);
  }
  let best = null;
  for (const [level, n] of counts) if (!best || n > counts.get(best)) best = level;
  return best;
}

function saveHash() {
  const params = new URLSearchParams({ unit: $("unit").value, year: $("year").value, kind: $("kind").value });
  if ($("kind").value !== "year") params.set("part", $("part").value);
  if (state.metric) { params.set("metric", state.metric); params.set("by", $("by").value); }
  history.replaceState(null, "", "#" + params.toString());
}

function fillParts() {
  const kind = $("kind").value;
  const part = $("part");
  const keep = part.value;
  part.replaceChildren();
  const n = kind === "quarter" ? 4 : 12;
  for (let i = 1; i <= n; i++) part.append(el("option", { value: i }, `${kind === "quarter" ? t("q") : t("m")} ${i}`));
  if (keep && Number(keep) <= n) part.value = keep;
  $("partLabel").hidden = kind === "year";
}

// Loads and shows everything for the chosen unit and period; a newer choice makes older answers be ignored.
async function show() {
  const generation = ++state.generation;
  const unit = $("unit").value;
  const p = period();
  saveHash();
  showError(null);
  $("main").setAttribute("aria-busy", "true");
  state.metric = null;
  state.groupsTicket++;
  state.recordsTicket++;
  $("breakdownBox").hidden = true;
  $("recordsBox").hidden = true;
  const current = () => generation === state.generation;
  const report = gql(REPORT, { u: unit, p: p.input }).then((d) => {
    if (!current()) return;
    state.report = d.indicators;
    renderReport();
    if (window.scorecardFirstView === undefined) window.scorecardFirstView = performance.now();
  });
  const series = loadSeries(unit, p.year);
  const level = childLevel(unit);
  const ranking = level
    ? gql(RANKING, { level, u: unit, p: p.input }).then((d) => { if (current()) { state.ranking = d.ranking; renderRanking(); } })
    : Promise.resolve().then(() => { state.ranking = []; renderRanking(); });
  const results = await Promise.allSettled([report, series, ranking]);
  if (!current()) return;
  $("main").setAttribute("aria-busy", "false");
  const failed = results.find((r) => r.status === "rejected");
  showError(failed ? failed.reason : null);
  document.body.dataset.loaded = String(generation);
}

// The months of `year` up to the current one (a month that has not begun has no figures yet).
function seriesRange(year) {
  const now = new Date();
  const next = now.getFullYear() === year ? `${year}-${String(now.getMonth() + 2).padStart(2, "0")}-01` : null;
  const from = `${year}-01-01`;
  if (year > now.getFullYear()) return { from, to: from };
  const to = next && now.getMonth() < 11 ? next : `${year + 1}-01-01`;
  return { from, to };
}

function loadSeries(unit, year) {
  const ticket = ++state.seriesTicket;
  const c = $("cumulative").checked;
  const { from, to } = seriesRange(year);
  if (from >= to) { state.series = []; renderSeries(); return Promise.resolve(); }
  return gql(SERIES, { u: unit, from, to, c }).then((d) => {
    if (ticket !== state.seriesTicket) return;
    state.series = d.indicatorSeries;
    renderSeries();
  });
}

function renderReport() {
  const r = state.report;
  if (!r) return;
  const u = unitByCode(r.unitCode);
  $("unitName").textContent = u ? u.name : r.unitCode;
  $("periodText").textContent = period().text;
  $("total").textContent = fmt(r.total);
  $("total").dataset.value = String(r.total);
  $("grade").textContent = t(r.grade);
  $("grade").className = "grade " + r.grade.toLowerCase();
  $("asOf").textContent = `${t("asOf")} ${new Date(r.asOf).toLocaleString(state.lang === "vi" ? "vi-VN" : "en-GB", { timeZone: "Asia/Ho_Chi_Minh" })}`;
  $("formula").textContent = r.formulaVersion;
  const body = $("metrics").tBodies[0];
  body.replaceChildren();
  for (const g of r.groups) {
    body.append(el("tr", { class: "group" },
      el("th", { scope: "rowgroup", colspan: 4 }, t(g.key)),
      el("td", { class: "num" }, `${fmt(g.score)} / ${g.maxScore}`),
      el("td", { class: "num" }, fmt(g.maxScore - g.score)), el("td")));
    for (const m of g.metrics) {
      const actions = el("td", { class: "actions" },
        el("button", { type: "button", "data-metric": m.key, class: "breakdown", onclick: () => openBreakdown(m.key) }, t("breakdown")));
      if (state.token) {
        actions.append(el("button", { type: "button", "data-records": m.key, onclick: () => openRecords(m.key) }, t("records")));
      }
      body.append(el("tr", { "data-key": m.key },
        el("th", { scope: "row" }, t(m.key)),
        el("td", { class: "num" }, int(m.numerator)), el("td", { class: "num" }, int(m.denominator)),
        el("td", { class: "num" }, pct(m.ratio)), el("td", { class: "num" }, `${fmt(m.score)} / ${m.maxScore}`),
        el("td", { class: "num lost" }, fmt(m.maxScore - m.score)), actions));
    }
  }
}

let chart = null;
function renderSeries() {
  const s = state.series || [];
  const body = $("seriesTable").tBodies[0];
  body.replaceChildren();
  for (const p of s) {
    body.append(el("tr", {}, el("td", {}, p.periodStart.slice(0, 7)), el("td", { class: "num" }, fmt(p.total)), el("td", {}, t(p.grade))));
  }
  const box = $("chart");
  box.replaceChildren();
  if (chart) { chart.destroy(); chart = null; }
  if (!window.uPlot || !s.length) return;
  const xs = s.map((p) => new Date(p.periodStart).getTime() / 1000);
  const ys = s.map((p) => p.total);
  const width = Math.max(320, Math.min(960, box.clientWidth || 720));
  chart = new uPlot({
    width, height: 260,
    scales: { x: { time: true }, y: { range: [0, 100] } },
    series: [{}, { label: t("total"), stroke: "#0b5394", width: 2, points: { size: 6, fill: "#0b5394" } }],
    axes: [{ stroke: "#222" }, { stroke: "#222", values: (u, v) => v.map((x) => fmt(x, 0)) }],
  }, [xs, ys], box);
}

function renderRanking() {
  const list = state.ranking || [];
  const body = $("ranking").tBodies[0];
  body.replaceChildren();
  $("noRanking").hidden = list.length > 0;
  for (const r of list) {
    const link = el("button", { type: "button", class: "link", onclick: () => { $("unit").value = r.unitCode; show(); } },
      `${r.unitName} (${r.unitCode})`);
    body.append(el("tr", { "data-unit": r.unitCode }, el("td", { class: "num" }, `${r.rank}/${r.of}`), el("td", {}, link),
      el("td", { class: "num" }, fmt(r.total)), el("td", {}, t(r.grade))));
  }
}

async function openBreakdown(metric) {
  state.groupsTicket++;
  state.metric = metric;
  saveHash();
  state.groups = [];
  state.after = null;
  $("breakdownBox").hidden = false;
  $("breakdownTitle").textContent = `${t("breakdownOf")}: ${t(metric)}`;
  $("breakdown").tBodies[0].replaceChildren();
  await loadGroups();
  $("by").focus();
}

async function loadGroups() {
  const metric = state.metric;
  if (!metric) return;
  const ticket = ++state.groupsTicket;
  showError(null);
  const box = $("breakdownBox");
  box.setAttribute("aria-busy", "true");
  $("moreGroups").disabled = true;
  try {
    const d = await gql(BREAKDOWN, { u: $("unit").value, p: period().input, m: metric, by: $("by").value, after: state.after });
    if (ticket !== state.groupsTicket) return;
    const b = d.indicatorBreakdown;
    state.groups.push(...b.edges.map((e) => e.node));
    state.after = b.pageInfo.endCursor;
    renderGroups(b.pageInfo.hasNextPage);
    box.dataset.loaded = String(state.groups.length);
  } catch (e) {
    if (ticket === state.groupsTicket) showError(e);
  } finally {
    if (ticket === state.groupsTicket) {
      box.setAttribute("aria-busy", "false");
      $("moreGroups").disabled = false;
    }
  }
}

function renderGroups(more) {
  const body = $("breakdown").tBodies[0];
  body.replaceChildren();
  for (const g of state.groups) {
    const name = g.kind === "OWN" ? `${g.name} — ${t("own")}` : g.kind === "NO_PROCEDURE" ? t("noProcedure") : g.name;
    body.append(el("tr", { "data-code": g.code },
      el("td", {}, g.code), el("td", {}, name),
      el("td", { class: "num" }, int(g.numerator)), el("td", { class: "num" }, int(g.denominator)),
      el("td", { class: "num" }, pct(g.ratio)), el("td", { class: "num lost" }, fmt(g.pointsLost))));
  }
  if (more !== undefined) $("moreGroups").hidden = !more;
}

async function openRecords(metric) {
  const ticket = ++state.recordsTicket;
  const p = period().input;
  const u = $("unit").value;
  const box = $("recordsBox");
  box.hidden = false;
  $("recordsTitle").textContent = `${t("recordsOf")} ${t(metric)}`;
  const list = $("records");
  list.replaceChildren(el("li", {}, t("loading")));
  showError(null);
  try {
    let items;
    if (metric === "ELECTRONIC_CERTIFIED_COPY") {
      const d = await gql(`query ScorecardCommunes($u: String!, $p: PeriodInput!) { indicatorCommunes(unitCode: $u, period: $p) { code name } }`, { u, p });
      items = d.indicatorCommunes.map((c) => `${c.code} · ${c.name}`);
    } else if (PROCEDURE_METRICS.includes(metric)) {
      const d = await gql(`query ScorecardProcedures($u: String!, $p: PeriodInput!, $m: MetricKey!) { indicatorProcedures(unitCode: $u, period: $p, metric: $m, first: 20) { edges { node { code name } } } }`, { u, p, m: metric });
      items = d.indicatorProcedures.edges.map((e) => `${e.node.code} · ${e.node.name}`);
    } else if (PAKN_METRICS.includes(metric)) {
      const d = await gql(`query ScorecardFeedback($u: String!, $p: PeriodInput!, $m: MetricKey!) { indicatorFeedback(unitCode: $u, period: $p, metric: $m, first: 20) { edges { node { code kind receivedAt dueAt answeredAt } } } }`, { u, p, m: metric });
      items = d.indicatorFeedback.edges.map((e) => `${e.node.code} · ${e.node.kind} · ${e.node.receivedAt.slice(0, 10)} → ${(e.node.answeredAt || "—").slice(0, 10)}`);
    } else {
      const d = await gql(`query ScorecardDossiers($u: String!, $p: PeriodInput!, $m: MetricKey!) { indicatorDossiers(unitCode: $u, period: $p, metric: $m, first: 20) { edges { node { code status receivedAt dueAt } } } }`, { u, p, m: metric });
      items = d.indicatorDossiers.edges.map((e) => `${e.node.code} · ${e.node.status || ""} · ${e.node.receivedAt.slice(0, 10)} → ${e.node.dueAt.slice(0, 10)}`);
    }
    if (ticket !== state.recordsTicket) return;
    list.replaceChildren(...(items.length ? items.map((i) => el("li", {}, i)) : [el("li", {}, t("none"))]));
    box.dataset.loaded = String(items.length);
  } catch (e) {
    if (ticket !== state.recordsTicket) return;
    list.replaceChildren();
    showError(e);
  }
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
  $("controls").setAttribute("aria-label", t("controls"));
  $("lang").textContent = state.lang === "vi" ? "EN" : "VI";
  $("lang").setAttribute("aria-label", state.lang === "vi" ? "English" : "Tiếng Việt");
  $("tokenState").textContent = state.token ? t("tokenOn") : t("tokenOff");
  fillParts();
  if (state.units.length) fillUnits();
  renderReport();
  renderSeries();
  renderRanking();
  if (state.metric) { $("breakdownTitle").textContent = `${t("breakdownOf")}: ${t(state.metric)}`; renderGroups(); }
}

async function boot() {
  const params = new URLSearchParams(location.hash.slice(1));
  $("year").value = params.get("year") || String(new Date().getFullYear() - 1);
  $("kind").value = ["year", "quarter", "month"].includes(params.get("kind")) ? params.get("kind") : "year";
  fillParts();
  if (params.get("part")) $("part").value = params.get("part");
  applyLanguage();
  $("controls").addEventListener("submit", (e) => { e.preventDefault(); show(); });
  $("unit").addEventListener("change", show);
  $("kind").addEventListener("change", () => { fillParts(); show(); });
  $("part").addEventListener("change", show);
  $("cumulative").addEventListener("change", () => loadSeries($("unit").value, period().year).catch(showError));
  $("by").addEventListener("change", () => { state.groups = []; state.after = null; saveHash(); loadGroups(); });
  $("moreGroups").addEventListener("click", loadGroups);
  $("lang").addEventListener("click", () => { state.lang = state.lang === "vi" ? "en" : "vi"; applyLanguage(); });
  $("useToken").addEventListener("click", () => {
    state.token = $("token").value.trim() || null;
    $("token").value = "";
    applyLanguage();
  });
  $("forgetToken").addEventListener("click", () => { state.token = null; applyLanguage(); $("recordsBox").hidden = true; });
  let resize = null;
  window.addEventListener("resize", () => { clearTimeout(resize); resize = setTimeout(renderSeries, 200); });
  try {
    state.units = (await gql(UNITS, {})).units;
  } catch (e) {
    showError(e);
    $("main").setAttribute("aria-busy", "false");
    document.body.dataset.loaded = "error";
    return;
  }
  fillUnits();
  if (!params.get("unit")) {
    const province = state.units.find((u) => u.level === "PROVINCE" && !u.validTo);
    const national = state.units.find((u) => u.level === "NATIONAL");
    $("unit").value = (national || province || state.units[0]).code;
  }
  await show();
  const metric = params.get("metric");
  if (metric && TEXT.vi[metric]) {
    if (["CHILD_UNIT", "SECTOR", "PROCEDURE"].includes(params.get("by"))) $("by").value = params.get("by");
    await openBreakdown(metric);
  }
}

boot();

-- Mixed load for scripts/soak.sh: public lookups, staff reads, writes and indicators, and a count of the
-- answers that carry GraphQL errors (wrk counts only non-2xx statuses).
local codes, threads = {}, {}
for line in io.lines(os.getenv("SOAK_CODES")) do codes[#codes + 1] = line end
local officer, hotline = "Bearer " .. os.getenv("SOAK_OFFICER"), "Bearer " .. os.getenv("SOAK_HOTLINE")
local n = 0

function setup(thread) table.insert(threads, thread) end
function init() errors = 0; answers = 0; sample = "" end

local function post(body, auth)
  local headers = { ["Content-Type"] = "application/json" }
  if auth then headers["Authorization"] = auth end
  return wrk.format("POST", "/graphql", headers, body)
end

function request()
  n = n + 1
  local r = n % 10
  if r < 5 then
    local code = codes[math.random(#codes)]
    return post('{"query":"{ dossierStatus(code: \\"' .. code .. '\\") { status dueAt } }"}')
  elseif r < 7 then
    return post('{"query":"{ dossiers(first: 20) { edges { node { code status applicant { name } } } } }"}', officer)
  elseif r < 8 then
    return post('{"query":"mutation { recordFeedback(input: { kind: QUESTION, channel: HOTLINE, unitCode: \\"502\\", content: \\"soak\\" }) { code } }"}', hotline)
  elseif r < 9 then
    return post('{"query":"{ indicators(unitCode: \\"49\\", period: { year: 2024 }) { total } }"}')
  else
    return post('{"query":"{ ranking(level: DISTRICT, parentCode: \\"49\\", period: { year: 2024, quarter: ' .. (n % 4 + 1) .. ' }) { rank } }"}')
  end
end

function response(status, headers, body)
  answers = answers + 1
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if sample == "" then sample = status .. " " .. string.sub(body, 1, 300) end
  end
end

function done(summary, latency, requests)
  local e, a = 0, 0
  for _, t in ipairs(threads) do
    e = e + t:get("errors"); a = a + t:get("answers")
    local s = t:get("sample")
    if s ~= "" then print("first error: " .. s) end
  end
  print(string.format("answers: %d, with errors: %d", a, e))
end

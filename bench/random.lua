-- wrk script: POST the JSON body BODY to the URL, with the first "%s" in it replaced by a code drawn at random
-- from the file CODES (one per line), and the header Authorization: Bearer TOKEN when TOKEN is set.
local codes = {}
local body = os.getenv("BODY")
local file = os.getenv("CODES")
if file and file ~= "" then
  for line in io.lines(file) do codes[#codes + 1] = line end
end
local headers = { ["Content-Type"] = "application/json" }
local token = os.getenv("TOKEN")
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end

function setup(thread)
  thread:set("id", tostring(thread))
end

function init(args)
  -- Each thread draws its own sequence.
  local seed = 0
  for i = 1, #id do seed = (seed * 31 + id:byte(i)) % 2147483647 end
  math.randomseed(os.time() + seed)
end

function request()
  local b = body
  if #codes > 0 then
    b = body:gsub("%%s", codes[math.random(#codes)], 1)
  end
  return wrk.format("POST", nil, headers, b)
end

function done(summary, latency, requests)
  io.write(string.format("non_2xx %d\n", summary.errors.status))
end

-- GET one or more paths with a rotating bearer token (bench/http_api.py).
--   wrk ... -s auth_get.lua <url> -- <tokens file> <path> [<path> ...]
-- Each connection starts at a random token and walks the token list and the path list in step, so a run
-- mixes users and routes. done() prints one line `WRK {json}`: requests, duration, latency percentiles
-- (microseconds) and error counts (status = non-2xx/3xx answers).
local tokens, paths, counter = {}, {}, 0

-- WRK_THINK_MS > 0: each connection waits that long after a response before its next request (a client with
-- think time) instead of sending the next one at once (saturation).
local think = tonumber(os.getenv("WRK_THINK_MS") or "0") or 0
if think > 0 then
  function delay() return think end
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then table.insert(tokens, line) end
  end
  for i = 2, #args do table.insert(paths, args[i]) end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
  counter = math.random(#tokens * #paths)
end

function request()
  counter = counter + 1
  local path = paths[(counter % #paths) + 1]
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "p50": %.1f, "p90": %.1f, "p99": %.1f, "max": %.1f, "mean": %.1f, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end

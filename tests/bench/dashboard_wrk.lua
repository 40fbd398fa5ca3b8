-- tests/bench/dashboard_wrk.lua — wrk script of the dashboard benchmark: GETs the paths in
-- OF_PATHS (one per line) in turn with the session cookie OF_COOKIE, and prints one RESULT
-- line (requests, non-2xx answers, socket errors, p50/p99/max in ms) for dashboard_bench.py.
local cookie = os.getenv("OF_COOKIE")
local paths = {}
for p in string.gmatch(os.getenv("OF_PATHS") or "/", "[^\n]+") do
  paths[#paths + 1] = p
end
local i = math.random(#paths)

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Cookie"] = cookie })
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f %.1f\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests / (summary.duration / 1e6)))
end

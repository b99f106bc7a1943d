-- wrk script for `orthocxr serve`: POST one image (IMAGE=path) to /v1/predictions.
-- Used by scripts/load-serve; counts non-200 answers as errors.
wrk.method = "POST"
wrk.path = "/v1/predictions"
local file = assert(io.open(os.getenv("IMAGE"), "rb"))
wrk.body = file:read("*all")
file:close()
wrk.headers["Content-Type"] = "application/octet-stream"
local failures = 0
function response(status, headers, body)
  if status ~= 200 then failures = failures + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("non-200 answers: %d\n", summary.errors.status))
end

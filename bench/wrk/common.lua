-- Shared by the bench/wrk/*.lua workloads of bench/records.sh.
-- done() prints one machine-readable line that records.sh parses:
--   BENCH requests=N duration_us=N rps=F p50_us=N p90_us=N p99_us=N max_us=N mean_us=F
--         status_errors=N connect_errors=N read_errors=N write_errors=N timeouts=N
-- status_errors is wrk's count of responses with status >= 400 (this API never answers
-- 1xx/3xx, so every other response is a 2xx); the socket error counts must be 0 too.

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    "BENCH requests=%d duration_us=%d rps=%.2f p50_us=%d p90_us=%d p99_us=%d max_us=%d mean_us=%.1f "
      .. "status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    e.status, e.connect, e.read, e.write, e.timeout))
end

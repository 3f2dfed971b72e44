-- health: GET /api/health, the same fixed answer on both servers. Not a records workload:
-- it is the ceiling of the run, what each server's HTTP layer (and wrk, on the same cores)
-- allows before any record is read, so a records ratio can be read against it.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

function request()
  return wrk.format("GET", "/api/health")
end

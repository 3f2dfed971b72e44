-- list-with-filter: GET /api/collections/items/records?filter=(n>=X&&n<X+50)&perPage=20&skipTotal=1
-- with X drawn per request from 0..(MAX_N-50) (MAX_N after `--`, default 10000), so every
-- request matches 50 seeded records and returns a page of 20. The filter is fully
-- percent-encoded and X+50 is computed here (PocketBase filters have no arithmetic).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local max_x = 9950
function init(args)
  max_x = (tonumber(args[1]) or 10000) - 50
  math.randomseed(12345 + 7919 * (tid or 0))
end

function request()
  local x = math.random(0, max_x)
  return wrk.format("GET", string.format(
    "/api/collections/items/records?filter=%%28n%%3E%%3D%d%%26%%26n%%3C%d%%29&perPage=20&skipTotal=1",
    x, x + 50))
end

-- view-one: GET /api/collections/items/records/{id}, cycling over the ids in the file
-- given after `--` (one id a line, written by bench/seed.py). Each wrk thread starts at a
-- different offset so threads don't hit the same record at the same moment.
-- view-signed-in: the same, with a second file holding an auth token (bench/seed.py
-- --token-out) sent as `Authorization` with every request.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local ids = {}
local pos = 0
local headers = {}
function init(args)
  local path = args[1] or error("usage: wrk ... -s view.lua URL -- IDS_FILE [TOKEN_FILE]")
  if args[2] then
    local fh = io.open(args[2]) or error("cannot read " .. args[2])
    headers["Authorization"] = fh:read("*l") or error("no token in " .. args[2])
    fh:close()
  end
  for line in io.lines(path) do
    if line ~= "" then ids[#ids + 1] = line end
  end
  if #ids == 0 then error("no ids in " .. path) end
  pos = ((tid or 0) * 397) % #ids
end

function request()
  pos = pos % #ids + 1
  return wrk.format("GET", "/api/collections/items/records/" .. ids[pos], headers)
end

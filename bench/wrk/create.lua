-- create: POST /api/collections/items/records as a guest (createRule is ""), with a fixed
-- JSON body. No request() function, so wrk reuses one pre-built request (cheapest for wrk).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

wrk.method = "POST"
wrk.path = "/api/collections/items/records"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"created by wrk","n":123,"flag":true}'

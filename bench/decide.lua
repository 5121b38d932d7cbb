-- POST /api/requests/:id/decide, each call on the next pending id from $IDS_FILE (run with -t1 so the ids are
-- shared in order). Every response must be 200: run.sh seeds more pending requests than a run can decide.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local auth = "Bearer " .. os.getenv("AGENTGATE_API_KEY")
local next_id = 0
local body = '{"decision":"approved","reason":"bench"}'
request = function()
  next_id = next_id + 1
  return wrk.format("POST", "/api/requests/" .. ids[next_id] .. "/decide",
    { ["Authorization"] = auth, ["Content-Type"] = "application/json" }, body)
end

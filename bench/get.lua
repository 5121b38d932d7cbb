-- GET /api/requests/:id over ids read from $IDS_FILE (one per line), picked at random.
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
local auth = "Bearer " .. os.getenv("AGENTGATE_API_KEY")
math.randomseed(42)
request = function()
  return wrk.format("GET", "/api/requests/" .. ids[math.random(#ids)], { ["Authorization"] = auth })
end

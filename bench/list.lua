-- GET /api/requests?status=pending&limit=50 (the dashboard's home query).
wrk.method = "GET"
wrk.path = "/api/requests?status=pending&limit=50"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AGENTGATE_API_KEY")

-- POST /api/requests with the body used for every published figure.
wrk.method = "POST"
wrk.path = "/api/requests"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AGENTGATE_API_KEY")
wrk.body = '{"action":"send_email","params":{"to":"a@b.c","subject":"hi"},"urgency":"normal"}'

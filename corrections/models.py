# Deployment corrections: catalogue, policies, requests, approvals, outbox (see DESIGN §3–§5).

"""The data plane for pods that really run (kind, real clusters): port-forward streams through the API
server, relayed by local TCP listeners."""

"""Reaching a function's instances: the route table both data planes keep, the HTTP client that forwards
calls, the seam to the deployer, and the gRPC proxy."""

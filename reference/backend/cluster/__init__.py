"""Talking to the cluster: the client, server-side apply, a function's namespace and what is ready in it,
and which container a Service port leads to."""

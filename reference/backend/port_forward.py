"""The seam for real clusters (kind): reach each instance through the API server's port-forward.

On a cluster whose nodes run containers, the probe really runs in the pod and nothing has to stand
in for it. What the reference server still cannot do is dial the pod: pod IPs are not routable from
this machine, and the network rule of this project is to dial 127.0.0.0/8 only. The API server's
port-forward (`pods/portforward`, the same channel `kubectl port-forward` uses) is the way through:

- `sync(function, namespace, service, pods)`: for each ready pod behind the Service, resolve the
  Service's inference and health ports to container ports (`reference.backend.routing`), open a
  local listener on 127.0.0.1 that relays each accepted connection over a port-forward stream to
  that container port, and run the function's health check (`reference.backend.health`) through it;
- `forward()` and the gRPC proxy then use those local listeners exactly as they use the KWOK
  data plane's probe processes (the same `LocalProbeDataPlane` routing and health bookkeeping);
- `release()`/`close()` close the listeners and their streams.

Not implemented yet: constructing it says so, rather than handing the server a data plane that
pretends to reach functions it cannot.
"""

from __future__ import annotations

from reference.backend.settings import BackendSettings

NOT_IMPLEMENTED = (
    "the port-forward data plane for real clusters (kind) is not implemented yet: this reference server can "
    "serve functions only on the KWOK data plane (LocalProbeDataPlane), which runs the mini-service probe as "
    "local processes"
)


class PortForwardDataPlane:
    def __init__(self, settings: BackendSettings) -> None:
        raise NotImplementedError(NOT_IMPLEMENTED)

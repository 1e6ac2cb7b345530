"""One call that builds the back half the server plugs in: deployer, data plane and gRPC proxy."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from reference.backend.cluster.kube import Kube
from reference.backend.data_plane_choice import choose
from reference.backend.deploy.deployer import KubeDeployer
from reference.backend.invocation.grpc_proxy import Admit, GrpcProxy, GrpcProxyThread
from reference.backend.kwok.dataplane import LocalProbeDataPlane
from reference.backend.portforward.dataplane import PortForwardDataPlane
from reference.backend.settings import BackendSettings

log = logging.getLogger("reference.backend.wiring")


@dataclass
class Backend:
    deployer: KubeDeployer
    data_plane: LocalProbeDataPlane | PortForwardDataPlane
    grpc_proxy: GrpcProxy | None
    _grpc_thread: GrpcProxyThread | None = None

    def start_grpc_proxy(self) -> int | None:
        """Start the gRPC proxy on its own thread; its port, or None when none is configured."""
        if self.grpc_proxy is None:
            return None
        if self._grpc_thread is None:
            self._grpc_thread = GrpcProxyThread(self.grpc_proxy)
            self._grpc_thread.start()
        return self.grpc_proxy.port

    def stop_grpc_proxy(self) -> None:
        if self._grpc_thread is not None:
            self._grpc_thread.stop()
            self._grpc_thread = None

    def close(self) -> None:
        """After the server stopped (its lifespan already called `deployer.shutdown()`)."""
        self.stop_grpc_proxy()
        self.data_plane.stop_all_now()
        self.deployer.close()


def build_backend(settings: BackendSettings, *, admit: Admit | None = None, nca_id: str = "nvcf-reference",
                  data_plane: str = "kwok-local") -> Backend:
    """`data_plane`: kwok-local, port-forward or auto (see `reference.backend.data_plane_choice`)."""
    settings.workdir.mkdir(parents=True, exist_ok=True)
    # httpx logs every request at INFO: with a health check per instance per second that would drown
    # the server's log. Left alone when someone already chose a level for it.
    httpx_log = logging.getLogger("httpx")
    if httpx_log.level == logging.NOTSET:
        httpx_log.setLevel(logging.WARNING)
    kube = Kube(settings.kubeconfig, context=settings.kube_context,
                discovery_cache=settings.workdir / "discovery-cache.json")
    plane: LocalProbeDataPlane | PortForwardDataPlane
    if choose(data_plane, kube.core) == "port-forward":
        plane = PortForwardDataPlane(settings, kube.api_client.configuration)
        log.info("data plane: port-forward through the API server to the pods' own containers")
    else:
        plane = LocalProbeDataPlane(settings, kube)
    deployer = KubeDeployer(settings, kube=kube, plane=plane)
    proxy = None
    if settings.grpc_proxy_port is not None:
        proxy = GrpcProxy(plane, port=settings.grpc_proxy_port, admit=admit, nca_id=nca_id,
                          violate=settings.violate)
    return Backend(deployer, plane, proxy)

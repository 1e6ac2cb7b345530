"""The preflight checks: each answers one set-up question before any verdict is reached.

A run is only worth judging when the target answers, our credentials are accepted, the registry
takes and serves charts, and the backend can pull a tiny chart from it. Every check here is about
the run's set-up; none judges a rule. A set-up fault stops the run as an ERROR (exit 2) with one
line saying what to fix; anything the implementation itself does wrong is left to the suites (a
refused minimal chart is reported as a note, and the suites then FAIL it with the evidence).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from conformance.charts import naming, oci
from conformance.client.errors import Nonconformant, TargetServerError, TargetUnreachable
from conformance.client.http import API, NvcfClient, Reply
from conformance.client.setup_faults import classify
from conformance.errors import ConformanceError
from conformance.plugin.charts import ChartRef, ChartSet, load_manifest, provision
from conformance.plugin.functions import Created, remove
from conformance.target.config import TargetConfig

PREFLIGHT_CASE = "minimal-http"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | fail | note (a note never stops the run)
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix else text


class Stop(Exception):
    """Raised inside a check: the run cannot go on (the check's result carries why)."""

    def __init__(self, check: Check) -> None:
        super().__init__(check.detail)
        self.check = check


@dataclass
class Preflight:
    target: TargetConfig
    run_id: str
    results_dir: Path
    charts_manifest: Path | None = None

    def run(self, progress: Callable[[Check], None] = lambda _: None) -> list[Check]:
        """Every check in order until the first failure; the list holds what was found."""
        found: list[Check] = []
        with NvcfClient(self.target) as client:
            for check in self._checks(client):
                found.append(check)
                progress(check)
                if check.failed:
                    break
        return found

    def _checks(self, client: NvcfClient) -> Iterator[Check]:
        try:
            yield self._management(client)
            yield self._invocation(client)
            yield self._registry()
            chart = self._chart()
            yield Check("chart", "ok", f"{chart.case} at {chart.helm_chart}")
            yield from self._registration(client)
            yield self._pull(client, chart)
        except Stop as stop:
            yield stop.check

    # ── the target and our credentials ──────────────────────────────────────────────────────────

    def _management(self, client: NvcfClient) -> Check:
        name = "management API"
        reply = _ask(name, lambda: client.request("GET", self.target.api, API + "/functions",
                                                  credential=self.target.token),
                     "check nvcf.gateway / NVCF_GATEWAY_ADDR (or nvcf.api_url) and that the backend is up")
        if reply.status_code == 401:
            raise Stop(Check(name, "fail", "the management token was refused (401)",
                             "check nvcf.token / NVCF_TOKEN"))
        if reply.status_code >= 500:
            raise Stop(Check(name, "fail", f"the backend answered {reply.status_code} to GET {API}/functions",
                             "the backend is failing: look at its logs"))
        if reply.status_code == 403:
            return Check(name, "note", "the token may not list functions (403); creating them is checked below")
        return Check(name, "ok", f"{self.target.api.host or self.target.api.base_url} answers ({reply.status_code})")

    def _invocation(self, client: NvcfClient) -> Check:
        name = "invocation API"
        unknown = str(uuid.uuid4())
        endpoint = self.target.pexec
        reply = _ask(name, lambda: client.request("POST", endpoint, f"{API}/pexec/functions/{unknown}",
                                                  credential=self.target.api_key, json_body={}),
                     "check nvcf.pexec_host / nvcf.invoke_url: pexec goes to invocation.<gw> on self-hosted NVCF")
        where = endpoint.host or endpoint.base_url
        if reply.status_code in (401, 403):
            raise Stop(Check(name, "fail", f"the invocation key was refused ({reply.status_code}) at {where}",
                             "check nvcf.api_key / NVCF_API_KEY (it needs the invoke_function scope)"))
        if reply.status_code >= 500:
            raise Stop(Check(name, "fail", f"{where} answered {reply.status_code} to a pexec of an unknown function",
                             "the invocation service is failing: look at its logs"))
        return Check(name, "ok", f"{where} answers a pexec of an unknown function with {reply.status_code}")

    # ── the registry and a tiny chart in it ─────────────────────────────────────────────────────

    def _registry(self) -> Check:
        name = "registry"
        creds = self.target.push_registry
        if creds is None:
            if self.charts_manifest is not None:
                return Check(name, "note", "no registry credentials configured: the charts of "
                                           f"{self.charts_manifest} are taken as pushed")
            raise Stop(Check(name, "fail", "no registry to push the sample charts to",
                             "set registry.address, registry.username and registry.password (NVCF_REGISTRY, "
                             "NVCF_REGISTRY_USERNAME, NVCF_REGISTRY_PASSWORD) or pass --charts-manifest"))
        address = naming.registry_address(creds[0], self.target["registry.plain_http"])
        problem = oci.Registry(address, creds[1], creds[2]).problem()
        if problem is not None:
            raise Stop(Check(name, "fail", problem, "start the registry, or fix registry.push_address and its "
                                                    "credentials"))
        return Check(name, "ok", f"{address.host_port} accepts the configured credentials")

    def _chart(self) -> ChartRef:
        try:
            charts: ChartSet = (load_manifest(self.charts_manifest) if self.charts_manifest is not None
                                else provision(self.target, self.run_id, [PREFLIGHT_CASE], self.results_dir))
            return charts[PREFLIGHT_CASE]
        except ConformanceError as exc:
            raise Stop(Check("chart", "fail", f"the {PREFLIGHT_CASE} chart could not be built and pushed: {exc}",
                             "fix the registry settings; `nvcf-conformance charts push` shows the details")) from None

    def _registration(self, client: NvcfClient) -> Iterator[Check]:
        """Where the backend keeps registry credentials (NVIDIA's API does), ours must be among them."""
        name = "registry credentials"
        registry = self.target.registry_address
        if not registry:
            return
        try:
            reply = client.request("GET", self.target.api, API + "/registry-credentials",
                                   credential=self.target.token)
        except TargetUnreachable:
            return
        if reply.status_code in (404, 405) or not reply.ok:
            return  # the backend has no such registry (the reference has none): nothing to check
        listed = reply.body.get("registryCredentials") if isinstance(reply.body, dict) else None
        hosts = {str(c.get("registryHostname", "")).lower() for c in listed or [] if isinstance(c, dict)}
        host_port = naming.registry_address(registry).host_port.lower()
        if host_port in hosts or urlsplit(f"//{host_port}").hostname in hosts:
            yield Check(name, "ok", f"{host_port} is registered with the backend")
        else:
            yield Check(name, "note", f"{host_port} is not among the backend's registry credentials "
                                      f"({', '.join(sorted(hosts)) or 'none'}); if the pull below fails, register it "
                                      "with POST /v2/nvcf/registry-credentials")

    def _pull(self, client: NvcfClient, chart: ChartRef) -> Check:
        """Create a function from the chart in the documented form and create its deployment (where
        NVIDIA's API pulls and validates the chart), then remove both again."""
        name = "backend pulls the chart"
        created: Created | None = None
        check: Check | None = None
        try:
            fn_name = re.sub(r"[^A-Za-z0-9_-]", "-", f"nvcfc-{self.run_id}-preflight")[:128]
            reply = _ask(name, lambda: client.create_function(chart.function_body(fn_name)), "")
            if reply.status_code in (401, 403):
                raise Stop(Check(name, "fail", f"creating a function was refused ({reply.status_code})",
                                 "the management token needs the register_function and deploy_function scopes"))
            if not reply.ok:
                check = self._refused(name, "function creation", reply)
                return check
            function = reply.field("function")
            created = Created(str(function["id"]), str(function["versionId"]), fn_name)
            spec = self.target.deployment_spec()
            deploy = _ask(name, lambda: client.create_deployment(created.function_id, created.version_id, [spec]),
                          "")
            accepted = f"the documented form {chart.helm_chart} was accepted at creation and deployment"
            check = self._refused(name, "deployment creation", deploy) if not deploy.ok else Check(name, "ok", accepted)
            return check
        except Nonconformant as exc:  # an answer of unexpected shape: the suites will judge the backend
            check = Check(name, "note", f"unexpected answer: {exc}")
            return check
        finally:
            problems = remove(client, created) if created is not None else []
            if problems and check is not None and not check.failed:
                # A function the run cannot delete would be left behind by every test: say so now.
                raise Stop(Check(name, "fail", f"the preflight function could not be removed: {'; '.join(problems)}",
                                 "undeploy and delete it by hand; check the token's delete_function scope"))

    @staticmethod
    def _refused(name: str, step: str, reply: Reply) -> Check:
        text = " ".join(reply.error_text.split())[:300]
        if reply.status_code >= 500:
            raise Stop(Check(name, "fail", f"{step} answered {reply.status_code}: {text}",
                             "the backend is failing: look at its logs"))
        fault = classify(text)
        if fault is not None:
            raise Stop(Check(name, "fail", f"{step} was refused for the registry ({fault.kind}): {text}", fault.fix))
        # Not the set-up's doing as far as can be told: the suites will show it as the implementation's.
        return Check(name, "note", f"{step} refused the minimal chart ({reply.status_code}): {text}")


def _ask(name: str, call: Callable[[], Reply], fix: str) -> Reply:
    try:
        return call()
    except TargetUnreachable as exc:
        raise Stop(Check(name, "fail", str(exc).split("; check")[0], fix or "check that the backend is up")) from None
    except TargetServerError as exc:
        raise Stop(Check(name, "fail", str(exc).split(": the backend failed")[0],
                         "the backend is failing: look at its logs")) from None

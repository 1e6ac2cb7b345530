"""Deployment state: INACTIVE → DEPLOYING → ACTIVE | ERROR, undeploy → INACTIVE, driven by a Deployer.

One asyncio task per deployment reads the deployer's progress reports and records them. Only that task
changes the status of a deployed version; the API cancels it before undeploying or deleting, so the
two never race. At shutdown the tasks are cancelled without touching the records, and the next start
hands every deployment that was on its way up (or up) back to the deployer; one that was serving
shows DEPLOYING until the deployer reports it serving again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from typing import Any

from reference.ports import (
    INVOCABLE_STATUSES,
    REPORTABLE_STATUSES,
    Deployer,
    Deployment,
    DeploymentUpdate,
    FunctionVersion,
    Instance,
)
from reference.store import DeploymentRow, Store

log = logging.getLogger("reference.lifecycle")

# Which status may follow which. Same-status reports are allowed: they carry new instances or reasons.
TRANSITIONS: dict[str, frozenset[str]] = {
    "INACTIVE": frozenset({"DEPLOYING", "DELETED"}),
    "DEPLOYING": frozenset({"DEPLOYING", "ACTIVE", "ERROR", "DEGRADING", "DEGRADED", "INACTIVE", "DELETED"}),
    "ACTIVE": frozenset({"ACTIVE", "DEGRADING", "DEGRADED", "ERROR", "INACTIVE", "DELETED"}),
    "DEGRADING": frozenset({"ACTIVE", "DEGRADING", "DEGRADED", "ERROR", "INACTIVE", "DELETED"}),
    "DEGRADED": frozenset({"ACTIVE", "DEGRADING", "DEGRADED", "DEPLOYING", "ERROR", "INACTIVE", "DELETED"}),
    "ERROR": frozenset({"INACTIVE", "DELETED"}),
    "DELETED": frozenset(),
}
# Handed back to the deployer on start: everything that is (or was becoming) deployed and not failed.
RESUMABLE = ("DEPLOYING", "ACTIVE", "DEGRADING", "DEGRADED")
_PROBLEM_STATUSES = frozenset({"ERROR", "DEGRADED", "DEGRADING"})


def _instance_json(inst: Instance) -> dict[str, Any]:
    names = {"instance_id": "instanceId", "instance_status": "instanceStatus", "instance_type": "instanceType"}
    return {names.get(k, k): v for k, v in asdict(inst).items() if v is not None}


class DeploymentLifecycle:
    def __init__(self, store: Store, deployer: Deployer) -> None:
        self.store = store
        self.deployer = deployer
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, version_id: str) -> asyncio.Lock:
        """Serialises deploy, undeploy and delete of one version across concurrent requests."""
        return self._locks.setdefault(version_id, asyncio.Lock())

    async def start(self) -> int:
        """Hand every deployment that was up (or on its way) back to the deployer. Runs before the
        server takes requests."""
        resumed = self.store.deployments_in(RESUMABLE)
        for fn, dep in resumed:
            log.info("resuming deployment %s of function %s version %s (was %s)", dep.deployment.deployment_id,
                     fn.version.function_id, fn.version.version_id, fn.status)
            if fn.status in INVOCABLE_STATUSES:
                # A status that says "invocations are served" is not true of this new process: its data
                # plane has no route to the function until the deployer has re-attached and reports it
                # serving again. Until then the function is on its way up.
                self.store.set_status(fn.version.version_id, "DEPLOYING")
            self._spawn(fn.version, dep.deployment, resumed=True)
        return len(resumed)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        try:
            await self.deployer.shutdown()
        except Exception:
            log.exception("the deployer failed to shut down cleanly")

    async def deploy(self, function: FunctionVersion, deployment: Deployment, *, status: str = "DEPLOYING"
                     ) -> DeploymentRow:
        """Record the deployment as DEPLOYING and start driving it. The caller holds `lock()`.

        `status` is only ever changed by the LIFECYCLE-DEPLOY mutant (a wrong first status)."""
        row = self.store.add_deployment(deployment, status)
        log.info("function %s version %s: INACTIVE → %s (deployment %s)", function.function_id,
                 function.version_id, status, deployment.deployment_id)
        self._spawn(function, deployment, resumed=False)
        return row

    async def undeploy(self, function: FunctionVersion, deployment: Deployment, *, final_status: str = "INACTIVE"
                       ) -> None:
        """Stop watching, let the deployer remove everything, then forget the deployment.

        If the deployer fails, the deployment stays recorded (status ERROR with the reason) so that a
        retry of the DELETE can finish the job; the exception goes to the caller.
        """
        task = self._tasks.pop(deployment.version_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            await self.deployer.undeploy(function, deployment)
        except Exception as exc:
            self._apply(function, deployment, DeploymentUpdate("ERROR", f"removing the deployment failed: {exc}"))
            raise
        if final_status == "DELETED":
            self.store.mark_deleted(deployment.version_id)
        else:
            self.store.remove_deployment(deployment.version_id, final_status)
        log.info("function %s version %s: undeployed → %s", function.function_id, function.version_id,
                 final_status)

    def _spawn(self, function: FunctionVersion, deployment: Deployment, *, resumed: bool) -> None:
        vid = deployment.version_id
        task = asyncio.get_running_loop().create_task(
            self._watch(function, deployment, resumed), name=f"deploy-{vid}"
        )
        self._tasks[vid] = task

        def forget(done: asyncio.Task[None]) -> None:
            if self._tasks.get(vid) is done:
                del self._tasks[vid]

        task.add_done_callback(forget)

    async def _watch(self, function: FunctionVersion, deployment: Deployment, resumed: bool) -> None:
        status: str | None = self.store.status_of(deployment.version_id)
        try:
            progress = self.deployer.deploy(function, deployment, resumed=resumed)
            try:
                async for update in progress:
                    status = self._apply(function, deployment, update)
                    if status == "ERROR":
                        break
            finally:
                closer = getattr(progress, "aclose", None)
                if closer is not None:
                    await closer()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("deployer failed on function %s version %s", function.function_id, function.version_id)
            self._apply(function, deployment, DeploymentUpdate("ERROR", f"the deployer failed: {exc}"))
            return
        if status == "DEPLOYING":
            self._apply(function, deployment, DeploymentUpdate(
                "ERROR", "the deployer stopped reporting before the deployment became ACTIVE"))

    def _apply(self, function: FunctionVersion, deployment: Deployment, update: DeploymentUpdate) -> str:
        vid = deployment.version_id
        current = self.store.status_of(vid) or "INACTIVE"
        target, reason = update.status, update.reason
        if target not in REPORTABLE_STATUSES:
            target, reason = "ERROR", f"the deployer reported an unknown status '{update.status}'"
        if target not in TRANSITIONS.get(current, frozenset()):
            log.warning("function %s version %s: ignoring %s → %s from the deployer", function.function_id, vid,
                        current, target)
            return current
        if target == "ERROR" and not reason:
            reason = "the deployer reported ERROR without saying why"
        health_info: list[dict[str, Any]] = []
        if target in _PROBLEM_STATUSES and reason:
            specs = deployment.specifications
            spec = specs[update.spec_index] if 0 <= update.spec_index < len(specs) else specs[0]
            entry = {"gpu": spec.gpu, "instanceType": spec.instance_type, "error": reason}
            if spec.raw.get("backend"):
                entry["backend"] = spec.raw["backend"]
            health_info.append(entry)
        instances = None if update.instances is None else [_instance_json(i) for i in update.instances]
        self.store.record_progress(vid, target, reason=reason, health_info=health_info, instances=instances)
        if target != current or reason:
            log.info("function %s version %s: %s → %s%s", function.function_id, vid, current, target,
                     f" ({reason})" if reason else "")
        return target

"""NVCF instance types, `<CSP>.GPU.<GPU>_<n>x[.x<N>]`, and what they ask of the cluster."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from reference import rules

_INSTANCE_TYPE = re.compile(
    r"^(?P<csp>[A-Za-z0-9][A-Za-z0-9-]*)\.GPU\.(?P<gpu>[A-Za-z0-9][A-Za-z0-9-]*)_(?P<gpus>[1-9][0-9]*)x"
    r"(?:\.x(?P<nodes>[1-9][0-9]*))?$"
)
# The label GPU feature discovery puts on a node, e.g. NVIDIA-L40S.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_RESOURCE = "nvidia.com/gpu"



class InstanceTypeError(ValueError):
    pass


@dataclass(frozen=True)
class InstanceType:
    text: str
    csp: str
    gpu: str  # as written in the instance type, e.g. L40S
    gpus_per_node: int
    nodes: int  # 1 unless `.xN`
    multi_node_suffix: bool  # written with `.xN` (even `.x1`)

    @property
    def gpu_product(self) -> str:
        """The node label value that marks this GPU."""
        return f"NVIDIA-{self.gpu.upper()}"

    @property
    def multi_node(self) -> bool:
        return self.nodes > 1

    @property
    def single_node_text(self) -> str:
        return f"{self.csp}.GPU.{self.gpu}_{self.gpus_per_node}x"


def parse_instance_type(text: str) -> InstanceType:
    match = _INSTANCE_TYPE.match(text.strip())
    if match is None:
        raise InstanceTypeError(
            f"instance type '{text}' does not follow <CSP>.GPU.<GPU>_<GPUs per node>x[.x<nodes>]"
            " (e.g. DGXC.GPU.L40S_1x, ON-PREM.GPU.B200_8x.x2)"
        )
    return InstanceType(
        text=text.strip(), csp=match["csp"], gpu=match["gpu"], gpus_per_node=int(match["gpus"]),
        nodes=int(match["nodes"] or 1), multi_node_suffix=match["nodes"] is not None,
    )


def accept_instance_type(text: str, gpu: str, violate: Collection[str] = frozenset()) -> InstanceType:
    """The instance type a deployment asks for, as this backend reads it; InstanceTypeError if it is not
    one. `gpu` is the deployment's own GPU field (only the malformed-type mutant uses it)."""
    try:
        instance = parse_instance_type(text)
    except InstanceTypeError:
        if rules.ITYPE_MALFORMED_REFUSED not in violate:
            raise
        # The mutant guesses rather than refuses, so the deployment goes on to run somewhere.
        return InstanceType(text=text.strip(), csp="ON-PREM", gpu=gpu.strip() or "L40S", gpus_per_node=1, nodes=1,
                            multi_node_suffix=False)
    if rules.MULTINODE_ACCEPTED in violate and instance.multi_node_suffix:
        raise InstanceTypeError(f"instance type '{instance.text}': this backend offers no multi-node instance types")
    if rules.ITYPE_SINGLE_NODE_ACCEPTED in violate and not instance.multi_node_suffix and instance.gpus_per_node > 1:
        raise InstanceTypeError(f"instance type '{instance.text}': single-node instances have one GPU here")
    return instance

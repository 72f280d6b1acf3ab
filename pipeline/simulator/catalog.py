"""Static facts the simulated fleet is drawn from: regions and their AZs, resource flavors, driver versions.

Flavor names, AZ names and driver versions are real ones (or shaped exactly like them) so that whatever
the pipeline derives from them, e.g. accelerator type or cards per node, is exercised on realistic input.
"""

from dataclasses import dataclass, field

# Region id -> availability zones. Real zone names; not every region has every letter.
REGION_AZS: dict[str, tuple[str, ...]] = {
    "cn-north-4": ("cn-north-4a", "cn-north-4b", "cn-north-4c", "cn-north-4g"),
    "cn-east-3": ("cn-east-3a", "cn-east-3b", "cn-east-3c", "cn-east-3d"),
    "cn-south-1": ("cn-south-1a", "cn-south-1c", "cn-south-1e", "cn-south-1f"),
    "ap-southeast-1": ("ap-southeast-1a", "ap-southeast-1b", "ap-southeast-1c"),
    "cn-southwest-2": ("cn-southwest-2a", "cn-southwest-2b", "cn-southwest-2d"),
    "ap-southeast-3": ("ap-southeast-3a", "ap-southeast-3b", "ap-southeast-3c"),
    "cn-north-9": ("cn-north-9a", "cn-north-9b", "cn-north-9c"),
    "af-south-1": ("af-south-1a", "af-south-1b", "af-south-1c"),
}

# Few enough that a small fleet still has several projects per region (and so sub-projects).
DEFAULT_REGIONS: tuple[str, ...] = ("cn-north-4", "cn-east-3", "cn-south-1", "ap-southeast-1")

GPU_DRIVERS: tuple[str, ...] = (
    "470.57.02",
    "515.65.01",
    "525.105.17",
    "535.54.03",
    "535.161.08",
    "550.127.08",
)
NPU_DRIVERS: tuple[str, ...] = ("C78", "23.0.rc2", "23.0.6", "24.1.rc2", "24.1.0", "25.0.rc1")


@dataclass(frozen=True)
class Flavor:
    name: str
    kind: str  # cpu | gpu | npu
    cpu: int
    memory_gi: int
    arch: str = "x86"
    xpu_type: str = ""  # e.g. nvidia-a100, ascend-snt9b
    cards: int = 0
    card_memory_gi: int = 0
    max_nodes: int = 8  # upper bound of a pool's initial size for this flavor
    job_flavors: tuple[str, ...] = ()
    billing_modes: tuple[int, ...] = (0, 1)
    # AZ letters where the flavor is sold out, to make status.phase of the catalog non-uniform.
    soldout_suffixes: tuple[str, ...] = field(default=())

    @property
    def node_resource_key(self) -> str:
        """The Kubernetes extended-resource name a node of this flavor advertises its cards under."""
        if self.kind == "gpu":
            return "nvidia.com/gpu"
        if self.kind == "npu":
            return "huawei.com/ascend-snt3" if "snt3" in self.name else "huawei.com/ascend-snt9"
        return ""


def _gpu_jobs(cards: int) -> tuple[str, ...]:
    sizes = {1: "xlarge", 2: "2xlarge", 4: "4xlarge", 8: "8xlarge"}
    return tuple(f"modelarts.pool.visual.{sizes[n]}" for n in (1, 2, 4, 8) if n <= cards)


def _npu_jobs(chip: str, cards: int) -> tuple[str, ...]:
    return tuple(f"modelarts.pool.visual.ascend.{chip}.{n}" for n in (1, 2, 4, 8) if n <= cards)


FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (
        Flavor("modelarts.vm.cpu.4ud", "cpu", 4, 16, max_nodes=12,
               job_flavors=("modelarts.pool.visual.cpu.2u8g", "modelarts.pool.visual.cpu.4u16g")),
        Flavor("modelarts.vm.cpu.8ud", "cpu", 8, 32, max_nodes=12,
               job_flavors=("modelarts.pool.visual.cpu.4u16g", "modelarts.pool.visual.cpu.8u32g")),
        Flavor("modelarts.vm.cpu.16ud", "cpu", 16, 64, max_nodes=8,
               job_flavors=("modelarts.pool.visual.cpu.8u32g", "modelarts.pool.visual.cpu.16u64g")),
        Flavor("modelarts.vm.gpu.tnt004", "gpu", 8, 32, xpu_type="nvidia-t4", cards=1, card_memory_gi=16,
               max_nodes=10, job_flavors=_gpu_jobs(1), soldout_suffixes=("c",)),
        Flavor("modelarts.vm.gpu.vnt1", "gpu", 8, 64, xpu_type="nvidia-v100", cards=1, card_memory_gi=32,
               max_nodes=8, job_flavors=_gpu_jobs(1)),
        Flavor("modelarts.vm.gpu.ant1", "gpu", 12, 92, xpu_type="nvidia-a100", cards=1, card_memory_gi=40,
               max_nodes=8, job_flavors=_gpu_jobs(1), soldout_suffixes=("b",)),
        Flavor("modelarts.vm.gpu.ant8", "gpu", 96, 736, xpu_type="nvidia-a100-80g", cards=8,
               card_memory_gi=80, max_nodes=16, job_flavors=_gpu_jobs(8), billing_modes=(1,),
               soldout_suffixes=("a", "g")),
        Flavor("modelarts.vm.npu.snt3", "npu", 16, 64, xpu_type="ascend-snt3", cards=1, card_memory_gi=8,
               max_nodes=8, job_flavors=_npu_jobs("snt3", 1)),
        Flavor("modelarts.vm.npu.snt9b.8", "npu", 192, 1536, arch="arm64", xpu_type="ascend-snt9b", cards=8,
               card_memory_gi=64, max_nodes=16, job_flavors=_npu_jobs("snt9b", 8)),
        Flavor("modelarts.bm.npu.arm.8snt9b3.d", "npu", 192, 1536, arch="arm64", xpu_type="ascend-snt9b3",
               cards=8, card_memory_gi=64, max_nodes=32, job_flavors=_npu_jobs("snt9b3", 8),
               billing_modes=(1,), soldout_suffixes=("b", "c")),
    )
}

CPU_FLAVORS = tuple(n for n, f in FLAVORS.items() if f.kind == "cpu")
GPU_FLAVORS = tuple(n for n, f in FLAVORS.items() if f.kind == "gpu")
NPU_FLAVORS = tuple(n for n, f in FLAVORS.items() if f.kind == "npu")


def resource_flavor_doc(flavor: Flavor, azs: tuple[str, ...]) -> dict:
    """One ResourceFlavor item of `GET /v1/{pid}/resourceflavors` (reference section 5)."""
    spec: dict = {
        "type": "Dedicate",
        "cpuArch": flavor.arch,
        "cpu": str(flavor.cpu),
        "memory": f"{flavor.memory_gi}Gi",
    }
    if flavor.kind in ("gpu", "npu"):
        spec[flavor.kind] = {
            "type": flavor.xpu_type,
            "size": str(flavor.cards),
            "memory": f"{flavor.card_memory_gi}Gi",
            "card": str(flavor.cards),
            "chip": str(flavor.cards),
        }
    # Data disks: the docs' flavor examples all say dataVolumes, the SDK's model dataVolume (reference section 9,
    # both an array of {volumeType, size}). Accelerator flavors carry the docs' key, CPU flavors the SDK's.
    disks = [{"volumeType": "SSD", "size": "100Gi" if flavor.kind == "cpu" else "800Gi"}]
    spec["dataVolume" if flavor.kind == "cpu" else "dataVolumes"] = disks
    spec["billingModes"] = list(flavor.billing_modes)
    spec["billingCode"] = flavor.name
    spec["jobFlavors"] = list(flavor.job_flavors)
    scopes = "Train.Infer" if flavor.kind == "cpu" else "Train.Infer.Notebook"
    return {
        "apiVersion": "v1",
        "kind": "ResourceFlavor",
        "metadata": {
            "name": flavor.name,
            "labels": {"os.modelarts/scope": scopes},
            "annotations": {"os.modelarts.flavor/image.filter": f'{{"arch":"{flavor.arch}"}}'},
        },
        "spec": spec,
        "status": {
            "phase": {az: ("soldout" if az[-1] in flavor.soldout_suffixes else "normal") for az in azs}
        },
    }


@dataclass(frozen=True)
class VirtualFlavor:
    """A virtual (slice of an NPU) flavor of Logical pools, as `GET /v1/{pid}/virtualresourceflavors` lists it."""

    name: str
    template: str  # virtualResourceTemplateName: the allocation template it is cut from
    cpu: int
    memory_gi: int
    visibility: str  # visible | invisible (the docs' example says "invisible")
    npu_type: str = ""  # spec.npu.type (the template's allocation type); "" -> no npu object, like the example
    resource_key: str = ""


# The first is the docs' example (OTC api-ref, virtual_resource_flavors); the others are shaped after its table.
VIRTUAL_FLAVORS: tuple[VirtualFlavor, ...] = (
    VirtualFlavor("snt9-280t-vir10-3c-16g", "snt9-280t", 8, 32, "invisible"),
    VirtualFlavor("snt9-280t-vir05-3c-16g", "snt9-280t", 4, 16, "visible", "vir05_3c_16g",
                  "huawei.com/ascend-snt9-vir05-3c-16g"),
    VirtualFlavor("snt9b-vir08-5c-32g", "snt9b-256t", 12, 48, "visible", "vir08_5c_32g",
                  "huawei.com/ascend-snt9b-vir08-5c-32g"),
)


def virtual_flavor_doc(flavor: VirtualFlavor) -> dict:
    """One ResourceFlavor item of `GET /v1/{pid}/virtualresourceflavors` (docs: Obtaining Virtual Resource
    Flavors): type Logical, arm64 (Ascend hosts), the template name and visibility, npu only when it has one."""
    spec: dict = {"cpuArch": "arm64", "cpu": str(flavor.cpu), "memory": f"{flavor.memory_gi}Gi", "type": "Logical"}
    if flavor.npu_type:
        spec["npu"] = {"type": flavor.npu_type, "size": "1", "resourceKey": flavor.resource_key}
    spec["virtualResourceTemplateName"] = flavor.template
    spec["visibility"] = flavor.visibility
    return {"kind": "ResourceFlavor", "apiVersion": "v1", "metadata": {"name": flavor.name, "labels": {}},
            "spec": spec}

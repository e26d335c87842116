"""Hardware the simulator builds fleets from: CPUs, accelerators, NICs and server shapes as vendors ship them."""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30
MIB = 2**20
TB = 10**12

# Flags that matter for peak FLOPS, as /proc/cpuinfo spells them (a subset: the rest change nothing).
_X86_BASE = ("sse", "sse2", "ssse3", "sse4_1", "sse4_2", "avx", "f16c", "aes", "pclmulqdq", "popcnt")
_SKYLAKE_SP = _X86_BASE + ("avx2", "fma", "bmi1", "bmi2", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl")
_ARM_V8 = ("fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics", "fphp", "asimdhp",
           "cpuid", "asimdrdm", "jscvt", "fcma", "dcpop", "asimddp", "asimdfhm")


@dataclass(frozen=True)
class CpuModel:
    """One CPU part as /proc/cpuinfo and lscpu report it, per socket."""

    key: str
    model: str
    vendor: str
    architecture: str
    cores_per_socket: int
    threads_per_core: int
    base_mhz: float
    max_mhz: float
    isa_features: tuple[str, ...]


CPUS: dict[str, CpuModel] = {cpu.key: cpu for cpu in (
    CpuModel("xeon-6248", "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "GenuineIntel", "x86_64",
             20, 2, 2500.0, 3900.0, _SKYLAKE_SP + ("avx512_vnni",)),
    CpuModel("xeon-8480p", "Intel(R) Xeon(R) Platinum 8480+", "GenuineIntel", "x86_64",
             56, 2, 2000.0, 3800.0,
             _SKYLAKE_SP + ("avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile", "amx_int8")),
    CpuModel("epyc-7763", "AMD EPYC 7763 64-Core Processor", "AuthenticAMD", "x86_64",
             64, 2, 2450.0, 3529.0, _X86_BASE + ("avx2", "fma", "bmi1", "bmi2", "sha_ni")),
    CpuModel("kunpeng-920", "Kunpeng-920", "HiSilicon", "aarch64", 64, 1, 2600.0, 2600.0, _ARM_V8),
    CpuModel("kunpeng-920-7265", "Kunpeng-920", "HiSilicon", "aarch64", 48, 1, 3000.0, 3000.0, _ARM_V8),
    CpuModel("hygon-7285", "Hygon C86 7285 32-core Processor", "HygonGenuine", "x86_64",
             32, 2, 2000.0, 3000.0, _X86_BASE + ("avx2", "fma", "bmi1", "bmi2", "sha_ni")),
)}


@dataclass(frozen=True)
class AcceleratorModel:
    """One accelerator as its vendor tool prints it (nvidia-smi / NVML name, npu-smi chip name)."""

    key: str
    vendor: str
    model: str
    memory_total_bytes: int
    compute_capability: str | None
    power_limit_w: float
    driver_version: str
    cuda_version: str | None


ACCELERATORS: dict[str, AcceleratorModel] = {acc.key: acc for acc in (
    AcceleratorModel("h100", "nvidia", "NVIDIA H100 80GB HBM3", 81559 * MIB, "9.0", 700.0, "535.183.06", "12.2"),
    AcceleratorModel("h800", "nvidia", "NVIDIA H800", 81559 * MIB, "9.0", 700.0, "535.183.06", "12.2"),
    AcceleratorModel("h20", "nvidia", "NVIDIA H20", 97871 * MIB, "9.0", 500.0, "550.90.07", "12.4"),
    AcceleratorModel("a800", "nvidia", "NVIDIA A800-SXM4-80GB", 81920 * MIB, "8.0", 400.0, "535.183.06", "12.2"),
    AcceleratorModel("l40s", "nvidia", "NVIDIA L40S", 46068 * MIB, "8.9", 350.0, "550.90.07", "12.4"),
    AcceleratorModel("910b", "huawei", "Ascend910B3", 65536 * MIB, None, 400.0, "23.0.3", None),
)}


@dataclass(frozen=True)
class ServerShape:
    """A kind of node: what sits in it, how tall it is and the power it is budgeted at in a rack."""

    key: str
    role: str  # compute | gpu | storage
    cpu: str
    sockets: int
    memory_bytes: int
    accelerator: str | None
    accelerator_count: int
    data_disks: int
    data_disk_bytes: int
    data_disk_media: str  # hdd | ssd | nvme
    nic_speeds_gbps: tuple[int, ...]  # Ethernet ports
    ib_ports: int  # InfiniBand NDR (400 Gb/s) ports, one per accelerator on training nodes
    height_u: int
    power_kw: float
    dmi_vendor: str
    dmi_product: str


SHAPES: dict[str, ServerShape] = {shape.key: shape for shape in (
    ServerShape("cpu-6248", "compute", "xeon-6248", 2, 384 * GIB, None, 0, 2, 960 * 10**9, "ssd",
                (25, 25), 0, 1, 0.65, "Inspur", "NF5280M5"),
    ServerShape("cpu-8480", "compute", "xeon-8480p", 2, 1024 * GIB, None, 0, 4, 3840 * 10**9, "nvme",
                (100, 100), 0, 2, 1.1, "Dell Inc.", "PowerEdge R760"),
    ServerShape("cpu-7763", "compute", "epyc-7763", 2, 1024 * GIB, None, 0, 2, 1920 * 10**9, "nvme",
                (25, 25), 0, 1, 0.9, "Sugon", "R6240-G30"),
    ServerShape("cpu-kunpeng", "compute", "kunpeng-920", 2, 512 * GIB, None, 0, 2, 960 * 10**9, "ssd",
                (25, 25), 0, 2, 0.6, "Huawei", "TaiShan 200 (Model 2280)"),
    ServerShape("cpu-hygon", "compute", "hygon-7285", 2, 512 * GIB, None, 0, 2, 960 * 10**9, "ssd",
                (25, 25), 0, 2, 0.7, "Sugon", "H620-G30"),
    ServerShape("gpu-h100", "gpu", "xeon-8480p", 2, 2048 * GIB, "h100", 8, 8, 3840 * 10**9, "nvme",
                (200, 200), 8, 8, 10.2, "Inspur", "NF5688M7"),
    ServerShape("gpu-h800", "gpu", "xeon-8480p", 2, 2048 * GIB, "h800", 8, 8, 3840 * 10**9, "nvme",
                (200, 200), 8, 8, 10.2, "H3C", "UniServer R5500 G6"),
    ServerShape("gpu-h20", "gpu", "xeon-8480p", 2, 2048 * GIB, "h20", 8, 4, 3840 * 10**9, "nvme",
                (400, 400), 0, 8, 6.5, "Lenovo", "ThinkSystem SR675 V3"),
    ServerShape("gpu-a800", "gpu", "epyc-7763", 2, 1024 * GIB, "a800", 8, 4, 3840 * 10**9, "nvme",
                (100, 100), 4, 6, 6.5, "Inspur", "NF5488A5"),
    ServerShape("gpu-l40s", "gpu", "xeon-8480p", 2, 1024 * GIB, "l40s", 8, 2, 3840 * 10**9, "nvme",
                (100, 100), 0, 4, 4.0, "Supermicro", "SYS-421GE-TNRT"),
    ServerShape("gpu-910b", "gpu", "kunpeng-920-7265", 4, 1024 * GIB, "910b", 8, 4, 3840 * 10**9, "nvme",
                (100, 100, 200, 200, 200, 200, 200, 200, 200, 200), 0, 4, 5.6, "Huawei", "Atlas 800T A2"),
    ServerShape("storage-hdd", "storage", "xeon-6248", 2, 256 * GIB, None, 0, 36, 18 * TB, "hdd",
                (100, 100), 0, 4, 1.2, "Inspur", "NF5468M6"),
    ServerShape("storage-nvme", "storage", "xeon-8480p", 2, 512 * GIB, None, 0, 24, 15360 * 10**9, "nvme",
                (200, 200), 0, 2, 1.3, "Huawei", "OceanStor Pacific 9950"),
)}

# The fleet's mix: how often each shape appears, per role and within it. Tuned to look like a
# provincial hub: mostly general compute, a fifth GPU nodes, a tenth storage.
ROLE_WEIGHTS: dict[str, float] = {"compute": 0.70, "gpu": 0.20, "storage": 0.10}
SHAPE_WEIGHTS: dict[str, dict[str, float]] = {
    "compute": {"cpu-6248": 0.30, "cpu-8480": 0.20, "cpu-7763": 0.20, "cpu-kunpeng": 0.15, "cpu-hygon": 0.15},
    "gpu": {"gpu-h100": 0.25, "gpu-h800": 0.20, "gpu-h20": 0.20, "gpu-a800": 0.15, "gpu-l40s": 0.10,
            "gpu-910b": 0.10},
    "storage": {"storage-hdd": 0.7, "storage-nvme": 0.3},
}

# Cities where the national hubs sit, for readable data-center names; other provinces use their code.
PROVINCE_CITIES: dict[str, str] = {
    "CN-BJ": "beijing", "CN-SH": "shanghai", "CN-SD": "jinan", "CN-JS": "nanjing", "CN-ZJ": "hangzhou",
    "CN-GD": "shaoguan", "CN-GZ": "guiyang", "CN-NM": "hohhot", "CN-NX": "zhongwei", "CN-GS": "qingyang",
    "CN-HE": "zhangjiakou", "CN-SC": "chengdu", "CN-CQ": "chongqing", "CN-AH": "wuhu",
}

"""CPU peak FLOPS: an ESTIMATE of physical cores × base clock × FLOPs per cycle for the ISA the CPU reports.

FP64 FLOPs per cycle per core, counting an FMA as two operations:

| ISA basis                                    | FP64/cycle |
| -------------------------------------------- | ---------- |
| SSE2 (x86-64 baseline, 2 × 128-bit add+mul)  | 4          |
| AVX (256-bit add + mul, no FMA)              | 8          |
| AVX2 + FMA on a 128-bit datapath (Zen 1, Hygon C86 'Dhyana') | 8 |
| AVX2 + FMA (2 × 256-bit FMA)                 | 16         |
| AVX-512, one 512-bit FMA unit                | 16         |
| AVX-512, two 512-bit FMA units               | 32         |
| ARM NEON/asimd (2 × 128-bit FMA: Neoverse N1, Kunpeng 920) | 8 |
| ARM SVE (Neoverse V1 2 × 256-bit, V2 4 × 128-bit) | 16    |

FP32 is twice FP64 (twice the lanes). The number of AVX-512 FMA units cannot be read from the CPU
flags, so it comes from the model name (see `_two_fma_units`): Xeon Platinum and Gold 6xxx of the
1st/2nd generation Xeon Scalable (plus the Gold 5122), every 3rd generation (Ice Lake) and later
Xeon Scalable, Xeon 6 P-core parts and AMD EPYC 9xx5 (Zen 5) have two; anything else is counted
with one, which can only under-count. AMX (amx_tile/amx_bf16/amx_int8) is noted in `isa_basis` but
not counted: it has no FP64 or FP32 mode. Base clock, not turbo, is used: all-core AVX clocks are
lower than turbo and often below base, so this is a ceiling, not a sustained rate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from suanli.schema import CpuInfo

_X86_ARCHES = ("x86_64", "amd64", "i686", "i386")
_ARM_ARCHES = ("aarch64", "arm64")
# Model names of x86 parts with two AVX-512 FMA units per core.
_TWO_FMA_PATTERNS = (
    re.compile(r"xeon.*platinum", re.I),
    re.compile(r"xeon.*gold\s+6\d{3}", re.I),
    re.compile(r"xeon.*gold\s+5122", re.I),
    # Second digit of a Xeon Scalable number is the generation: 3 = Ice Lake, 4 = Sapphire Rapids, ...
    re.compile(r"xeon.*(?:gold|silver|bronze)\s+\d[3-9]\d{2}", re.I),
    re.compile(r"xeon\(r\)\s+6\d{3}p", re.I),
    re.compile(r"epyc\s+9\d{2}5", re.I),
)
# x86 parts whose AVX2 FMA runs on a 128-bit datapath (256-bit ops split in two).
_HALF_RATE_AVX2_PATTERNS = (
    re.compile(r"hygon", re.I),
    re.compile(r"epyc\s+7\d{2}1", re.I),  # EPYC 7001 'Naples' (Zen 1)
)


@dataclass(frozen=True)
class CpuPeakFlops:
    """Estimated peak of one host's CPUs; `isa_basis` says which rule gave `flops_per_cycle_fp64`."""

    fp64_flops: float
    fp32_flops: float
    flops_per_cycle_fp64: int
    isa_basis: str


def _matches(patterns: tuple[re.Pattern[str], ...], model: str) -> bool:
    return any(pattern.search(model) for pattern in patterns)


def _x86_rate(features: set[str], model: str) -> tuple[int, str] | None:
    if "avx512f" in features:
        if _matches(_TWO_FMA_PATTERNS, model):
            return 32, "AVX-512 with two FMA units"
        return 16, "AVX-512 with one FMA unit (two not established for this model)"
    if "avx2" in features and "fma" in features:
        if _matches(_HALF_RATE_AVX2_PATTERNS, model):
            return 8, "AVX2+FMA on a 128-bit datapath"
        return 16, "AVX2+FMA"
    if "avx" in features:
        return 8, "AVX"
    # SSE2 is part of x86-64 itself, so a 64-bit x86 CPU without flags still has it.
    return 4, "SSE2"


def _arm_rate(features: set[str]) -> tuple[int, str] | None:
    if "sve" in features or "sve2" in features:
        return 16, "ARM SVE"
    if "asimd" in features:
        return 8, "ARM NEON (asimd)"
    return None


def _flops_per_cycle(cpu: CpuInfo) -> tuple[int, str] | None:
    features = {flag.lower() for flag in cpu.isa_features}
    arch = (cpu.architecture or "").lower()
    model = cpu.model or ""
    if arch in _X86_ARCHES or features & {"sse2", "avx", "avx2", "avx512f"}:
        return _x86_rate(features, model)
    if arch in _ARM_ARCHES or features & {"asimd", "sve"}:
        return _arm_rate(features)
    return None


def cpu_peak_flops(cpu: CpuInfo) -> CpuPeakFlops | None:
    """The ESTIMATED peak FP64/FP32 FLOPS of a host's CPUs; None when base clock or ISA is unknown.

    `cpu.physical_cores` is the host's total over all sockets, as the cpu collector reports it.
    """
    if cpu.base_mhz is None or not cpu.physical_cores:
        return None
    rate = _flops_per_cycle(cpu)
    if rate is None:
        return None
    per_cycle, basis = rate
    amx = sorted(flag for flag in {f.lower() for f in cpu.isa_features} if flag.startswith("amx"))
    if amx:
        basis += f"; AMX present ({', '.join(amx)}), not counted: no FP64/FP32 mode"
    fp64 = cpu.physical_cores * cpu.base_mhz * 1e6 * per_cycle
    return CpuPeakFlops(fp64_flops=fp64, fp32_flops=2 * fp64, flops_per_cycle_fp64=per_cycle, isa_basis=basis)

"""What a benchmark ran on: CPU model and the SIMD features that move int8/fp32 ratios.

Ratios differ between CPUs with and without AVX-512 / VNNI / AMX, so every bench prints
these next to its figures (and the load average: other work on the machine slows a round).
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

#: The /proc/cpuinfo flags that change which kernels ONNX Runtime, CTranslate2 and torch use.
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
    "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
)  # fmt: skip


def machine() -> dict[str, object]:
    """CPU model, its SIMD features, core count and 1-minute load average; also on stderr."""
    model, flags = "unknown", set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    facts: dict[str, object] = {
        "cpu_model": model,
        "cpu_features": [f for f in SIMD_FLAGS if f in flags],
        "cpus": os.cpu_count() or 1,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(f"machine: {facts}", file=sys.stderr)
    return facts


def spread(values: list[float], *, digits: int = 3) -> dict[str, float]:
    """Median and range of one side's rounds, printed next to the best one."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }

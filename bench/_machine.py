"""What every bench shares: what it ran on, and how it measures on a shared machine.

Ratios differ between CPUs with and without AVX-512 / VNNI / AMX, so every bench prints
these next to its figures (and the load average: other work on the machine slows a round).
On a machine others use, a bench runs interleaved rounds of ours and the baseline
(:func:`interleaved`), prints the best next to the median and spread (:func:`summary`), and
backs its wall-clock ratio with a ``cpu_ratio`` from CPU time (:func:`cpu_seconds`,
:func:`tree_cpu_seconds`) with the baseline's thread pools set not to spin
(:func:`passive_threads`), which a busy neighbour cannot inflate.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

#: The /proc/cpuinfo flags that change which kernels ONNX Runtime, CTranslate2 and torch use.
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
    "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
)  # fmt: skip

#: The features the issue asks each bench to name: the kernels ONNX Runtime, CTranslate2
#: and torch pick at run time follow these flags (AMX = amx_tile + amx_int8/amx_bf16).
KEY_FEATURES = {"avx512f": ("avx512f",), "avx512_vnni": ("avx512_vnni",), "amx": ("amx_tile",)}


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
        "features_used": {
            name: all(f in flags for f in need) for name, need in KEY_FEATURES.items()
        },
        "cpus": os.cpu_count() or 1,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
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


# -- shared by every bench: features used, non-spinning pools, CPU time, interleaved rounds --

#: Thread-pool settings that stop OpenMP / MKL / oneDNN workers from spinning while they
#: wait: a spinning pool burns CPU time that is not work, and a busy neighbour stretches
#: the spin, so CPU-time ratios taken with these set cannot be inflated by one.
#: ONNX Runtime's pools are set not to spin in ``providers/embed_onnx.py`` already.
PASSIVE_THREADS = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0", "MKL_DYNAMIC": "FALSE"}


def passive_threads() -> dict[str, str]:
    """Set :data:`PASSIVE_THREADS` in this process's environment (before any model library
    is imported) and return them, to be printed with the figures."""
    os.environ.update(PASSIVE_THREADS)
    return dict(PASSIVE_THREADS)


def cpu_seconds() -> float:
    """User + system CPU time of this process and its waited-for children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU time of processes ``roots`` and all their descendants, including children they
    have already reaped (a recycled pool child's time moves into its parent's count)."""
    import psutil

    total, seen = 0.0, set()
    for root in roots:
        try:
            procs = [psutil.Process(root)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            try:
                t = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


def summary(values: list[float], *, best: str = "max", digits: int = 3) -> dict[str, float]:
    """Best, median and spread of one side's rounds (``best``: ``max`` for a rate,
    ``min`` for a time), printed side by side."""
    pick = max if best == "max" else min
    return {"best": round(pick(values), digits), **spread(values, digits=digits)}


def interleaved(
    rounds: int, sides: dict[str, Callable[[int], dict[str, float]]]
) -> dict[str, list[dict[str, float]]]:
    """Run each side once per round (``side(round)`` returns its figures), alternating which
    goes first, so both sides share whatever else the machine is doing at the time."""
    names = list(sides)
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else list(reversed(names)):
            figures[name].append(sides[name](r))
            shown = ", ".join(
                f"{k} {v:.4g}" if isinstance(v, int | float) else f"{k} {v}"
                for k, v in figures[name][-1].items()
            )
            print(f"round {r + 1} {name}: {shown}", file=sys.stderr, flush=True)
    return figures


def column(rows: list[dict[str, float]], key: str) -> list[float]:
    """One figure of every round of one side."""
    return [row[key] for row in rows]

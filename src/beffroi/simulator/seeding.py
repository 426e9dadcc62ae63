"""Deterministic randomness: everything the simulator draws follows from ``--seed``.

Static draws (a lamp's power, a bin's fill rate) hash the asset's URN, so they do not change
when other assets are added. Dynamic draws (noise at one tick, an event on one day) come from a
generator keyed by (seed, what, when), so a tick gives the same values whether it is generated
by a backfill or by the live stream, in one run or in pieces.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

import numpy as np

_U64 = float(2**64)


def _word(part: int | str) -> int:
    if isinstance(part, str):
        return zlib.crc32(part.encode("utf-8"))
    return int(part) & 0xFFFF_FFFF_FFFF


def rng(seed: int, *key: int | str) -> np.random.Generator:
    """A generator for one (seed, purpose, time) key."""
    return np.random.default_rng([_word(seed), *(_word(k) for k in key)])


def uniform(seed: int, salt: str, keys: Sequence[str]) -> np.ndarray:
    """One number in (0, 1) per key, stable for a given (seed, salt, key)."""
    prefix = f"{seed}:{salt}:".encode()
    out = np.empty(len(keys), dtype=np.float64)
    for i, key in enumerate(keys):
        digest = hashlib.blake2b(prefix + key.encode("utf-8"), digest_size=8).digest()
        out[i] = (int.from_bytes(digest, "little") + 0.5) / _U64
    return out


def normal(seed: int, salt: str, keys: Sequence[str]) -> np.ndarray:
    """One standard normal number per key (Box-Muller on two stable uniforms)."""
    u1 = uniform(seed, salt + ":1", keys)
    u2 = uniform(seed, salt + ":2", keys)
    out: np.ndarray = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return out


def between(u: np.ndarray, low: float, high: float) -> np.ndarray:
    out: np.ndarray = low + (high - low) * u
    return out


def lognormal_from_median(median: float, log_sd: float, z: np.ndarray) -> np.ndarray:
    out: np.ndarray = median * np.exp(log_sd * z)
    return out

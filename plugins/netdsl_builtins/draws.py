"""TensorFlow's ``tf.random.stateless_uniform`` (float32, its default Philox generator on the
CPU), bit for bit, in plain Python: so ``check`` can count the rows a seeded per-row split
sends each way (:func:`netdsl_builtins.tabular.csv_streams` draws it in ``tf.data``) without
TensorFlow, nor NumPy (whose import would cost ``check`` more than counting a 1 MB file's rows).

The seed pair is scrambled into Philox4x32-10's key and counter as TensorFlow's
``GenerateKey`` does; each counter block gives four 32-bit words, each word one float: its low
23 bits as the mantissa of a number in [1, 2), minus one. A test compares it with TensorFlow.
"""

from __future__ import annotations

import struct

__all__ = ["below", "stateless_uniform"]

_WORD = 0xFFFFFFFF
_MANTISSA = 1 << 23
_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)  # TensorFlow's fixed key for turning a seed into one
_Block = tuple[int, int, int, int]


def _round_keys(key: tuple[int, int]) -> list[tuple[int, int]]:
    """The key of each of the ten rounds (raised by Philox's Weyl constants)."""
    return [
        ((key[0] + i * 0x9E3779B9) & _WORD, (key[1] + i * 0xBB67AE85) & _WORD) for i in range(10)
    ]


def _philox(block: _Block, keys: list[tuple[int, int]]) -> _Block:
    """Philox4x32-10 of one counter block."""
    x0, x1, x2, x3 = block
    for k0, k1 in keys:
        p0, p1 = 0xD2511F53 * x0, 0xCD9E8D57 * x2
        x0, x1, x2, x3 = (p1 >> 32) ^ x1 ^ k0, p1 & _WORD, (p0 >> 32) ^ x3 ^ k1, p0 & _WORD
    return x0, x1, x2, x3


def _words(n: int, seed: tuple[int, int]) -> list[int]:
    """The first ``n`` 32-bit words TensorFlow's Philox draws for ``seed`` (two int64s)."""
    s0, s1 = (s & (2**64 - 1) for s in seed)
    mix = _philox((s0 & _WORD, s0 >> 32, s1 & _WORD, s1 >> 32), _round_keys(_SCRAMBLE_KEY))
    keys = _round_keys((mix[0], mix[1]))
    out: list[int] = []
    for b in range(-(-n // 4)):  # a 128-bit counter from (0, 0, mix[2], mix[3]), counting
        out += _philox((b & _WORD, b >> 32, mix[2], mix[3]), keys)
    return out[:n]


def stateless_uniform(n: int, seed: tuple[int, int]) -> list[float]:
    """``tf.random.stateless_uniform([n], seed=seed)``: ``n`` float32 draws in [0, 1)."""
    return [(w & (_MANTISSA - 1)) / _MANTISSA for w in _words(n, seed)]


def below(n: int, seed: tuple[int, int], threshold: float) -> int:
    """How many of those ``n`` draws are ``< threshold`` as TensorFlow compares them (the
    threshold rounded to float32)."""
    limit = struct.unpack("f", struct.pack("f", threshold))[0] * _MANTISSA
    return sum(1 for w in _words(n, seed) if (w & (_MANTISSA - 1)) < limit)

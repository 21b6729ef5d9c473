"""libjpeg-turbo's integer arithmetic in torch ops: the IJG quality tables, the "islow" DCT's fixed-point
butterflies, quantisation and colour conversion, as jfdctint.c, jidctint.c, jcparam.c, jccolor.c and jdcolor.c
compute them (the DCT passes as int32 products summed by broadcasting: TF32, which `fast_matmul` allows for matmuls,
would shift coefficients by whole steps). `jpeg_torch` composes them into the codec.
"""

from __future__ import annotations

import functools

import torch

from upres.host_to_device import constant

# JPEG spec Annex K, tables K.1 and K.2, natural (row-major) order.
_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
    (99, 99, 99, 99, 99, 99, 99, 99),
)
# jfdctint.c / jidctint.c: FIX(x) at CONST_BITS = 13, the rows pass keeping PASS1_BITS = 2 extra bits.
_C = {
    name: round(value * 8192)
    for name, value in {
        "0.298": 0.298631336,
        "0.390": 0.390180644,
        "0.541": 0.541196100,
        "0.765": 0.765366865,
        "0.899": 0.899976223,
        "1.175": 1.175875602,
        "1.501": 1.501321110,
        "1.847": 1.847759065,
        "1.961": 1.961570560,
        "2.053": 2.053119869,
        "2.562": 2.562915447,
        "3.072": 3.072711438,
    }.items()
}


def _fix(x: float) -> int:
    """libjpeg's FIX(): a coefficient in 16-bit fixed point."""
    return int(x * 65536 + 0.5)


@functools.lru_cache(maxsize=256)
def quant_table(quality: int, chroma: bool) -> tuple[tuple[int, ...], ...]:
    """The 8x8 table (natural order) libjpeg's jpeg_set_quality(quality, force_baseline=TRUE) installs."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    base = _CHROMA if chroma else _LUMA
    return tuple(tuple(min(max((v * scale + 50) // 100, 1), 255) for v in row) for row in base)


def _odd_part(t0, t1, t2, t3):
    """The odd half of the Loeffler-Ligtenberg-Moschytz butterfly both libjpeg DCTs share."""
    z1, z2, z3, z4 = t0 + t3, t1 + t2, t0 + t2, t1 + t3
    z5 = (z3 + z4) * _C["1.175"]
    z1, z2 = z1 * -_C["0.899"], z2 * -_C["2.562"]
    z3, z4 = z3 * -_C["1.961"] + z5, z4 * -_C["0.390"] + z5
    return (
        t0 * _C["0.298"] + z1 + z3,
        t1 * _C["2.053"] + z2 + z4,
        t2 * _C["3.072"] + z2 + z3,
        t3 * _C["1.501"] + z1 + z4,
    )


def _fdct_butterfly(d: list[int]) -> list[int]:
    """jpeg_fdct_islow's pass on one row, before its final shifts (the DC and 4th terms, which libjpeg shifts by
    other amounts, brought to the same 2**13 scale: the shift right then gives the very same integers)."""
    t0, t1, t2, t3 = d[0] + d[7], d[1] + d[6], d[2] + d[5], d[3] + d[4]
    t7, t6, t5, t4 = d[0] - d[7], d[1] - d[6], d[2] - d[5], d[3] - d[4]
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    z1 = (t12 + t13) * _C["0.541"]
    o7, o5, o3, o1 = _odd_part(t4, t5, t6, t7)
    return [
        (t10 + t11) << 13,
        o1,
        z1 + t13 * _C["0.765"],
        o3,
        (t10 - t11) << 13,
        o5,
        z1 - t12 * _C["1.847"],
        o7,
    ]


def _idct_butterfly(d: list[int]) -> list[int]:
    """jpeg_idct_islow's pass on one column or row, before its final shift."""
    z1 = (d[2] + d[6]) * _C["0.541"]
    t2, t3 = z1 - d[6] * _C["1.847"], z1 + d[2] * _C["0.765"]
    t0, t1 = (d[0] + d[4]) << 13, (d[0] - d[4]) << 13
    t10, t13, t11, t12 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    o0, o1, o2, o3 = _odd_part(d[7], d[5], d[3], d[1])
    return [t10 + o3, t11 + o2, t12 + o1, t13 + o0, t13 - o0, t12 - o1, t11 - o2, t10 - o3]


def _as_matrix(butterfly) -> tuple[tuple[int, ...], ...]:
    """A butterfly is linear in integers up to its final shift: its matrix, read off the unit vectors."""
    columns = [butterfly([int(i == j) for i in range(8)]) for j in range(8)]
    return tuple(tuple(col[i] for col in columns) for i in range(8))


_DCT_MATRICES = (_as_matrix(_fdct_butterfly), _as_matrix(_idct_butterfly))


def _dct_matrices(device: torch.device) -> torch.Tensor:
    return constant("jpeg_islow_dct", lambda: torch.tensor(_DCT_MATRICES, dtype=torch.int32), device)


def _dct_pass(x: torch.Tensor, matrix: torch.Tensor, bits: int) -> torch.Tensor:
    """One libjpeg DCT pass along the last axis: integer products summed (int32 wraps as libjpeg's 32-bit
    arithmetic does, and the true results fit), then DESCALE, the shift right that rounds halves up."""
    summed = (x.unsqueeze(-2) * matrix).sum(-1, dtype=torch.int32)
    return (summed + (1 << (bits - 1))) >> bits


def floor_shift(x: torch.Tensor, bits: int) -> torch.Tensor:
    """x >> bits for integer-valued floats (a power-of-two division is exact)."""
    return torch.floor(x * (1.0 / (1 << bits)))


# jccolor.c's rgb_ycc_convert and jdcolor.c's ycc_rgb_convert (their lookup tables computed inline) in 16-bit fixed
# point, as products summed over the colour axis plus the rounding offsets: every product and partial sum is an
# integer below 2**24 in magnitude, so float32 holds each exactly whatever the order of the sum.
_RGB_TO_YCC = (
    (_fix(0.299), _fix(0.587), _fix(0.114)),
    (-_fix(0.16874), -_fix(0.33126), _fix(0.5)),
    (_fix(0.5), -_fix(0.41869), -_fix(0.08131)),
)
_YCC_OFFSETS = ((1 << 15), (128 << 16) + (1 << 15) - 1, (128 << 16) + (1 << 15) - 1)
_CBCR_TO_RGB = ((0, _fix(1.402)), (-_fix(0.34414), -_fix(0.71414)), (_fix(1.772), 0))


def _colour_matrix(name: str, rows, like: torch.Tensor) -> torch.Tensor:
    return constant(name, lambda: torch.tensor(rows, dtype=torch.float64), like.device, like.dtype)


def rgb_to_ycc(px: torch.Tensor) -> torch.Tensor:
    m = _colour_matrix("jpeg_rgb_to_ycc", _RGB_TO_YCC, px)[None, :, :, None, None]
    offsets = _colour_matrix("jpeg_ycc_offsets", _YCC_OFFSETS, px)[None, :, None, None]
    return floor_shift((px.unsqueeze(1) * m).sum(2) + offsets, 16)


def ycc_to_rgb(ycc: torch.Tensor) -> torch.Tensor:
    """Then the range limit."""
    m = _colour_matrix("jpeg_cbcr_to_rgb", _CBCR_TO_RGB, ycc)[None, :, :, None, None]
    chroma = (ycc[:, 1:].unsqueeze(1) - 128) * m
    return (ycc[:, :1] + floor_shift(chroma.sum(2) + (1 << 15), 16)).clamp_(0, 255)


def code_blocks(planes: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Level shift, integer DCT (coefficients at 8x scale), quantise rounding halves away from zero, dequantise,
    integer IDCT, range limit: libjpeg's path for every block at once.

    planes: (N, C, H, W) integer levels, H and W multiples of 8; table: (N, 1, 1, 1, 8, 8) int32."""
    n, ch, h, w = planes.shape
    fdct, idct = _dct_matrices(planes.device)
    blocks = (planes.to(torch.int32) - 128).reshape(n, ch, h // 8, 8, w // 8, 8).transpose(3, 4)
    coef = _dct_pass(_dct_pass(blocks, fdct, 11).transpose(-1, -2), fdct, 15).transpose(-1, -2)
    quantised = torch.div(coef.abs() + 4 * table, 8 * table, rounding_mode="floor") * coef.sign()
    rec = _dct_pass(_dct_pass((quantised * table).transpose(-1, -2), idct, 11).transpose(-1, -2), idct, 18)
    rec = rec.transpose(3, 4).reshape(n, ch, h, w)
    return (rec + 128).clamp_(0, 255).to(planes.dtype)

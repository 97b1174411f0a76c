"""Colour: the luminance a colorization model sees, CIELAB for losses and metrics, and a
galaxy's colour gradient.

Stored colour images are displayed values in [0, 1], channels (R, G, B) first; CIELAB treats
them as sRGB (D65 white), as any viewer shows them. The luminance is the Rec. 709 weighted
sum of the stored channels (a plain linear function of the pixel: a baseline may exploit it
and a model cannot be told more than a grey rendering shows).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)  # Rec. 709, of the stored (displayed) R, G, B
# sRGB (linear) -> CIE XYZ, normalized by the D65 white point (each row sums to 1)
_RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_EPS, _KAPPA = 216 / 24389, 24389 / 27  # the CIE's linear segment near black


def luminance(rgb):
    """(N, 3, H, W) -> (N, H, W): the Rec. 709 weighted sum of the channels; numpy (as
    float32) or a torch tensor (its dtype and device kept)."""
    if not hasattr(rgb, "device"):  # numpy (or anything array-like)
        rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"colour images are (N, 3, H, W), got {tuple(rgb.shape)}")
    if isinstance(rgb, np.ndarray):
        return np.tensordot(np.asarray(LUMA_WEIGHTS, np.float32), rgb, axes=(0, 1))
    import torch

    w = torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device)
    return (rgb * w[:, None, None]).sum(1)


def rgb_to_lab(rgb):
    """CIELAB (L* in [0, 100], a*, b*) of sRGB images (N, 3, H, W) in [0, 1] (values outside
    are clipped), channels first; numpy arrays or torch tensors (differentiable: a loss)."""
    if isinstance(rgb, np.ndarray):
        return _lab(np.clip(rgb.astype(np.float64), 0, 1), np)
    import torch

    # float32 whatever the autocast: bf16 would cost about a just-noticeable difference
    with torch.autocast(rgb.device.type, enabled=False):
        return _lab(rgb.float().clamp(0, 1), torch)


def _lab(rgb, xp):
    """The sRGB -> CIELAB chain on the array module ``xp`` (numpy or torch)."""
    linear = xp.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = _RGB_TO_XYZ / _WHITE_D65[:, None]
    # the 3x3 mix as products and sums (a matmul may run in TF32 on a GPU)
    r, g, b = linear[:, 0], linear[:, 1], linear[:, 2]
    xyz = xp.stack([m[0] * r + m[1] * g + m[2] * b for m in matrix.tolist()], 1)
    # the cube root with a floor (its gradient at 0 is infinite)
    f = xp.where(xyz > _EPS, xp.clip(xyz, _EPS, None) ** (1 / 3), (_KAPPA * xyz + 16) / 116)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return xp.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)


def delta_e(output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per sample, the mean CIE76 colour difference ΔE*ab (Euclidean in CIELAB; 2.3 is a
    just-noticeable difference) between images (N, 3, H, W)."""
    return _mean_distance(rgb_to_lab(output) - rgb_to_lab(target))


def chroma_error(output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per sample, the mean distance in the (a*, b*) plane: the colour difference with the
    lightness left out (what a colorization adds to its grey input)."""
    return _mean_distance((rgb_to_lab(output) - rgb_to_lab(target))[:, 1:])


def _mean_distance(d: np.ndarray) -> np.ndarray:
    """Per sample, the mean over pixels of the Euclidean length along the channel axis."""
    return np.sqrt((d**2).sum(axis=1)).reshape(len(d), -1).mean(axis=1)


class Reference(NamedTuple):
    """What every output of a block of colour images is compared with, computed once: the
    true images in CIELAB and their colour gradients."""

    lab: np.ndarray
    gradient: np.ndarray

    @classmethod
    def of(cls, targets: np.ndarray) -> Reference:
        return cls(rgb_to_lab(targets), colour_gradient(targets))


def colour_values(output: np.ndarray, reference: Reference) -> dict[str, np.ndarray]:
    """Per-sample colour values of an output against the true images: ΔE, the chroma error,
    and the output's and the true colour gradients."""
    d = rgb_to_lab(output) - reference.lab
    return {
        "delta_e": _mean_distance(d),
        "chroma_error": _mean_distance(d[:, 1:]),
        "colour_gradient": colour_gradient(output),
        "true_colour_gradient": reference.gradient,
    }


def colour_gradient(rgb: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Per image (N, 3, H, W), the colour index B - R = -2.5 log10(B / R) (larger: redder)
    of the centre (radius < H / 8 around the middle) minus that of the ring around it (H / 8
    to H / 4), from the channels' means: positive when the centre is redder than its
    surroundings (a bulge of old stars inside a bluer disk)."""
    h, w = rgb.shape[-2:]
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)
    inner, outer = r < h / 8, (r >= h / 8) & (r < h / 4)

    def index(mask):
        red = rgb[:, 0][:, mask].mean(axis=1)
        blue = rgb[:, 2][:, mask].mean(axis=1)
        return -2.5 * np.log10((blue + eps) / (red + eps))

    return (index(inner) - index(outer)).astype(np.float64)

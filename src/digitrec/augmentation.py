"""Training-time distortions of MNIST digits, as one vectorized warp per batch.

Each image gets a random affine map (rotation, scale, shear, translation)
plus an elastic displacement field (Simard, Steinkraus and Platt 2003:
uniform noise in [-1, 1] smoothed by a Gaussian of sigma 4 px and scaled by
alpha up to 34 px), composed and sampled in one `map_coordinates` call, and
a random stroke width (a blend towards a 3x3 grey dilation or erosion).
Real pens are thinner or thicker than MNIST's, so the last one matters
for handwriting that is not MNIST.
"""

import math
import os

import keras
import numpy as np
from scipy import ndimage


def distort(images, rng, rotation_deg=12.0, scale=(0.88, 1.12), shear=0.2, shift_px=2.5,
            alpha_px=34.0, sigma_px=4.0, stroke=0.6):
    """Randomly distort a batch of digits.

    Args:
        images: float32 `(N, 28, 28)` in [0, 1], light ink on dark.
        rng: `numpy.random.Generator`, the source of all randomness.
        rotation_deg: maximum absolute rotation, degrees.
        scale: (low, high) zoom factor range, per axis.
        shear: maximum absolute shear (dimensionless slope).
        shift_px: maximum absolute translation, pixels.
        alpha_px: maximum elastic strength, pixels (Simard et al. 2003).
        sigma_px: elastic smoothness, pixels.
        stroke: maximum blend factor towards dilation (>0) or erosion (<0).

    Returns:
        float32 `(N, 28, 28)` in [0, 1].
    """
    n, h, w = images.shape
    # Stroke width: x + t * (dilate(x) - x) for t > 0, towards erode(x) for t < 0.
    t = rng.uniform(-stroke, stroke, size=(n, 1, 1)).astype("float32")
    grown = ndimage.grey_dilation(images, footprint=np.ones((1, 3, 3), bool))
    shrunk = ndimage.grey_erosion(images, footprint=np.ones((1, 3, 3), bool))
    x = np.where(t > 0, images + t * (grown - images), images - t * (shrunk - images))

    # Affine map from output to input coordinates, about the image centre.
    theta = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, n))
    sy, sx = rng.uniform(*scale, (2, n))
    k = rng.uniform(-shear, shear, n)
    cos, sin = np.cos(theta), np.sin(theta)
    a = np.stack([np.stack([cos / sy, -sin / sy + k], -1), np.stack([sin / sx, cos / sx], -1)], -2)  # (n, 2, 2)
    yy, xx = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    grid = np.stack([yy, xx])  # (2, h, w)
    coords = np.einsum("nij,jhw->inhw", a, grid)
    coords += rng.uniform(-shift_px, shift_px, (2, n, 1, 1))
    coords[0] += (h - 1) / 2
    coords[1] += (w - 1) / 2

    # Elastic field (Simard et al. 2003).
    field = rng.uniform(-1, 1, (2, n, h, w))
    field = ndimage.gaussian_filter(field, sigma=(0, 0, sigma_px, sigma_px), mode="constant")
    coords += field * rng.uniform(0, alpha_px, (1, n, 1, 1))

    batch = np.broadcast_to(np.arange(n)[:, None, None], (n, h, w))
    out = ndimage.map_coordinates(x, [batch, coords[0], coords[1]], order=1, mode="constant", cval=0.0)
    return np.clip(out, 0, 1).astype("float32")


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled, freshly distorted mini-batches for `model.fit`.

    Args:
        images: float32 `(N, 28, 28, 1)` in [0, 1].
        targets: labels `(N,)` or one-hot `(N, 10)`.
        batch_size: images per batch.
        seed: int; batch `i` of epoch `e` depends only on `(seed, e, i)`,
            so training is reproducible.

    Batches are distorted in threads (SciPy's filters release the GIL):
    half the CPU cores, at most 8, leaving the rest to the model.
    """

    def __init__(self, images, targets, batch_size, seed=0):
        super().__init__(workers=max(1, min(8, (os.cpu_count() or 2) // 2)), use_multiprocessing=False)
        self.images, self.targets = images[..., 0], targets
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0
        self._order = np.random.default_rng([seed, 0]).permutation(len(images))

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, i):
        idx = self._order[i * self.batch_size : (i + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return distort(self.images[idx], rng)[..., None], self.targets[idx]

    def on_epoch_end(self):
        self.epoch += 1
        self._order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))

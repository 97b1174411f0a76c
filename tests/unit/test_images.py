"""The images kind without data: the official hashes, raw-format errors and config errors
(its sources through the fetch and prepare stages: tests/stage/test_image_sets.py)."""

import numpy as np
import pytest

from aeflow.config import ConfigError, validate_config
from aeflow.data import images
from aeflow.data.sources import RawDataError


def test_the_official_hashes_are_the_published_ones():
    assert images.COLLECTIONS["mnist"]["files"]["train-images-idx3-ubyte.gz"] == (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    )
    assert images.COLLECTIONS["fashion_mnist"]["files"]["t10k-labels-idx1-ubyte.gz"] == (
        "bb300cfdad3c16e7a12a480ee83cd310"
    )


def test_raw_errors_name_file_and_key():
    good = {
        "images": np.zeros((3, 8, 8), np.float32),
        "labels": np.array([0, 1, 2]),
        "is_test": np.array([False, False, True]),
    }
    images.check_raw(good, "f.npz")
    with pytest.raises(RawDataError, match=r"f\.npz: key 'images': float pixels must lie in"):
        images.check_raw(dict(good, images=np.full((3, 8, 8), 2.0, np.float32)), "f.npz")
    with pytest.raises(RawDataError, match=r"f\.npz: key 'labels' has shape \(2,\)"):
        images.check_raw(dict(good, labels=np.array([0, 1])), "f.npz")
    with pytest.raises(RawDataError, match=r"f\.npz: key 'images' has 1 NaN"):
        bad = good["images"].copy()
        bad[1, 2, 3] = np.nan
        images.check_raw(dict(good, images=bad), "f.npz")


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"kind": "jets", "source": "simulate", "collection": "mnist"}, "only kinds images"),
        ({"kind": "images", "collection": "mnist", "source": "simulate"}, "real data"),
        ({"kind": "images", "source": "installed"}, "'collection' is a required property"),
    ],
)
def test_image_config_errors(dataset, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(
            {
                "datasets": {"d": dataset},
                "experiments": {"e": {"dataset": "d", "model": "conv_ae", "task": "reconstruct"}},
            }
        )

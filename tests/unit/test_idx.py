"""IDX reading (MNIST / Fashion-MNIST format), on hand-written files and the Debian package."""

import gzip

import numpy as np
import pytest

from aeflow.data import idx
from aeflow.data.sources import RawDataError


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_roundtrip_plain_and_gzip(tmp_path, name):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    idx.write_idx(tmp_path / name, a)
    raw = (
        gzip.decompress((tmp_path / name).read_bytes())
        if name.endswith(".gz")
        else (tmp_path / name).read_bytes()
    )
    # the header by hand: magic 0x00000803, then 2, 3, 4 as big-endian uint32
    assert raw[:16] == bytes.fromhex("00000803000000020000000300000004")
    np.testing.assert_array_equal(idx.read_idx(tmp_path / name), a)


def test_other_dtypes_are_big_endian(tmp_path):
    a = np.array([1.5, -2.0], dtype=np.float32)
    idx.write_idx(tmp_path / "f.idx", a)
    assert (tmp_path / "f.idx").read_bytes()[8:12] == bytes.fromhex("3fc00000")  # 1.5, big-endian
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "f.idx"), a)


def test_bad_files_are_named(tmp_path):
    (tmp_path / "page.gz").write_bytes(b"<html>quota exceeded</html>")
    with pytest.raises(RawDataError, match=r"page\.gz: not an IDX file"):
        idx.read_idx(tmp_path / "page.gz")
    idx.write_idx(tmp_path / "a.idx", np.zeros((4, 5), np.uint8))
    data = (tmp_path / "a.idx").read_bytes()
    (tmp_path / "a.idx").write_bytes(data[:-3])
    with pytest.raises(RawDataError, match=r"a\.idx: IDX body holds 17 bytes.*needs 20"):
        idx.read_idx(tmp_path / "a.idx")


def test_image_set_checks_labels_against_images(tmp_path):
    idx.write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 28), np.uint8))
    idx.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(4, dtype=np.uint8))
    with pytest.raises(RawDataError, match="4 labels for 5 images"):
        idx.read_image_set(tmp_path, "train")


@pytest.mark.skipif(
    not (idx.DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed (make setup installs it as root)",
)
def test_real_fashion_mnist_from_the_debian_package():
    images, labels = idx.read_image_set(idx.DEBIAN_FASHION_MNIST, "test")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10  # balanced, 10 classes
    assert images.max() == 255 and images.mean() > 50  # real clothing images, not blanks

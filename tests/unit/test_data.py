import hashlib

import h5py
import numpy as np
import pytest

from aeflow.data import saxs, sources
from aeflow.data.split import assign_split


# ---- the book's recipe on hand-made arrays -------------------------------------------------
def test_preprocess_recipe_by_hand():
    speckle = np.array([[[9.0, 99.0], [0.0, 999.0]]], dtype=np.float32)  # log10(x+1): 1, 2, 0, 3
    target = np.array([[[99.0, 9999.0], [0.0, 0.0]]], dtype=np.float32)  # log10(x+1): 2, 4, 0, 0
    inputs, targets, scale = saxs.preprocess(speckle, target)
    assert scale == pytest.approx([3.0])
    np.testing.assert_allclose(inputs[0], [[1 / 3, 2 / 3], [0, 1]], rtol=1e-6)
    # 4/3 is clipped to 1.1
    np.testing.assert_allclose(targets[0], [[2 / 3, 1.1], [0, 0]], rtol=1e-6)


def test_preprocess_parameters():
    speckle = np.full((1, 4, 4), 99.0, dtype=np.float32)
    inputs, _, scale = saxs.preprocess(speckle, speckle, log_offset=901.0, clip_max=0.5)
    assert scale == pytest.approx([3.0])
    assert inputs.max() == pytest.approx(0.5)


def test_empty_image_cannot_be_normalized():
    speckle = np.zeros((2, 4, 4), dtype=np.float32)
    with pytest.raises(sources.RawDataError, match=r"speckle_images.*sample 0"):
        saxs.preprocess(speckle, speckle)


# ---- raw checks name file and key ----------------------------------------------------------
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(target_images=r["target_images"][:5]), "differ in shape"),
        (
            lambda r: r.update(speckle_images=r["speckle_images"][..., 0, 0]),
            "'speckle_images' has shape",
        ),
        (
            lambda r: r.update(target_images=np.repeat(r["target_images"], 3, axis=-1)),
            "'target_images' has shape",
        ),
        (
            lambda r: r["speckle_images"].__setitem__((2, 5, 5, 0), np.nan),
            "'speckle_images' has 1 NaN/inf.*sample 2",
        ),
        (
            lambda r: r["target_images"].__setitem__((4, 0, 0, 0), -1.0),
            "'target_images' has negative counts.*sample 4",
        ),
        (lambda r: r.update(speckle_images=r["speckle_images"][:, :62]), "multiples of 4"),
    ],
)
def test_check_raw_errors(raw_saxs, mutate, message):
    mutate(raw_saxs)
    with pytest.raises(sources.RawDataError, match=f"raw.npz: .*{message}"):
        saxs.check_raw(raw_saxs, "raw.npz")


def test_check_raw_accepts_both_layouts(raw_saxs):
    a, b = saxs.check_raw(raw_saxs, "x")
    assert a.shape == b.shape == (6, 64, 64)
    squeezed = {k: v[..., 0] for k, v in raw_saxs.items()}
    c, _ = saxs.check_raw(squeezed, "x")
    np.testing.assert_array_equal(a, c)


# ---- split ---------------------------------------------------------------------------------
def test_random_split_fractions_and_determinism():
    a = assign_split(1000, n_train=None, test_fraction=0.2, val_fraction=0.1, seed=5)
    b = assign_split(1000, n_train=None, test_fraction=0.2, val_fraction=0.1, seed=5)
    c = assign_split(1000, n_train=None, test_fraction=0.2, val_fraction=0.1, seed=6)
    assert (a == b).all() and not (a == c).all()
    assert (a == "test").sum() == 200 and (a == "val").sum() == 80 and (a == "train").sum() == 720


def test_book_split_is_ordered():
    s = assign_split(100, n_train=80, test_fraction=0.0, val_fraction=0.1, seed=0)
    assert (s[80:] == "test").all()
    assert (s[:80] != "test").all() and (s[:80] == "val").sum() == 8
    with pytest.raises(ValueError, match="n_train"):
        assign_split(10, n_train=20, test_fraction=0, val_fraction=0, seed=0)


# ---- readers and sources -------------------------------------------------------------------
def test_read_npz_and_hdf5(tmp_path, raw_saxs):
    npz = tmp_path / "raw.npz"
    np.savez(npz, **raw_saxs)
    h5 = tmp_path / "raw.h5"
    with h5py.File(h5, "w") as f:
        for k, v in raw_saxs.items():
            f[k] = v
    for path in (npz, h5):
        arrays = sources.read_arrays(path, saxs.RAW_KEYS)
        np.testing.assert_array_equal(arrays["speckle_images"], raw_saxs["speckle_images"])
    with pytest.raises(sources.RawDataError, match=r"raw\.h5: missing key 'labels'"):
        sources.read_arrays(h5, ["labels"])
    with pytest.raises(
        sources.RawDataError, match=r"raw\.npz: missing key 'speckle'.*speckle_images"
    ):
        sources.read_arrays(npz, ["speckle"])


def test_npz_with_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, speckle_images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(sources.RawDataError, match=r"evil.npz"):
        sources.read_arrays(path, ["speckle_images"])


def test_download_http_with_hash(http_server, tmp_path, raw_saxs, monkeypatch):
    monkeypatch.setattr(sources, "RETRIES", 1)  # one retry after a failure (pooch pauses)
    root, base = http_server
    np.savez(root / "speckles.npz", **raw_saxs)
    digest = hashlib.sha256((root / "speckles.npz").read_bytes()).hexdigest()
    dest = tmp_path / "raw" / "saxs.npz"
    assert sources.download(dest, url=f"{base}/speckles.npz", sha256=digest) == digest
    assert dest.read_bytes() == (root / "speckles.npz").read_bytes()
    # wrong hash: an error naming the URL and nothing left behind
    dest2 = tmp_path / "raw" / "other.npz"
    with pytest.raises(sources.RawDataError, match=r"speckles.npz: sha256 mismatch"):
        sources.download(dest2, url=f"{base}/speckles.npz", sha256="0" * 64)
    assert not dest2.exists()
    assert list((tmp_path / "raw").iterdir()) == [dest]
    # missing file on the server
    with pytest.raises(sources.RawDataError, match="download failed"):
        sources.download(dest2, url=f"{base}/nothing.npz")
    assert not dest2.exists()


def test_truncated_npz_is_named(tmp_path, raw_saxs):
    path = tmp_path / "cut.npz"
    np.savez(path, **raw_saxs)
    data = path.read_bytes()
    for size in (len(data) // 2, len(data) - 30):  # the member table gone; a member cut
        path.write_bytes(data[:size])
        with pytest.raises(sources.RawDataError, match=r"cut\.npz: not a readable .* damaged"):
            sources.read_arrays(path, ["speckle_images", "target_images"])


def test_a_download_cut_short_is_refused(tmp_path, monkeypatch):
    """The server promises 1000 bytes (Content-Length) and closes after 100: retried, then an
    error naming the URL, and nothing at the destination (no truncated raw file to trip over
    later)."""
    import http.server
    import threading

    monkeypatch.setattr(sources, "RETRIES", 1)
    attempts = []

    class CutShort(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            attempts.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"PK" + b"x" * 98)
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CutShort)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/speckles.npz"
        dest = tmp_path / "raw" / "saxs.npz"
        with pytest.raises(sources.RawDataError, match=r"speckles\.npz: download cut short"):
            sources.download(dest, url=url)
        assert len(attempts) == 2  # the first try and one retry
        assert not dest.exists() and list(dest.parent.iterdir()) == []
    finally:
        server.shutdown()


def test_download_file_url(tmp_path, raw_saxs):
    src = tmp_path / "speckles.npz"
    np.savez(src, **raw_saxs)
    dest = tmp_path / "out.npz"
    sources.download(dest, url=src.as_uri())
    assert dest.read_bytes() == src.read_bytes()

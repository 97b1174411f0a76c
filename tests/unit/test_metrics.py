import numpy as np
import pytest

from aeflow.evaluation import baselines
from aeflow.evaluation.metrics import mse_summary, per_sample_mse, psnr, ssim, summarize


def test_mse_and_psnr_by_hand():
    target = np.zeros((2, 2, 2))
    pred = np.array([[[1, 1], [1, 1]], [[0, 0], [0, 2]]], dtype=float)
    mse = per_sample_mse(pred, target)
    np.testing.assert_allclose(mse, [1.0, 1.0])
    np.testing.assert_allclose(psnr(np.array([0.01, 1e-4]), 1.0), [20.0, 40.0])
    assert psnr(np.array([0.0]))[0] == np.inf
    block = mse_summary(per_sample_mse(pred * 0.1, target))
    assert block["test_loss"] == pytest.approx(0.01)
    assert block["n_test"] == 2
    assert block["psnr_db"]["mean"] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="differ"):
        per_sample_mse(pred, target[:1])


@pytest.mark.parametrize("shape", [(40, 28, 28), (6, 64, 64), (5, 8, 8), (4, 7, 5), (3, 4, 4)])
def test_ssim_is_scikit_images_per_image(shape):
    """The block-wise SSIM gives scikit-image's value for every image, small images (a
    smaller window) included; an image compared with itself scores 1."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(3)
    target = rng.random(shape).astype(np.float32)
    prediction = np.clip(target + 0.2 * rng.standard_normal(shape), 0, 1).astype(np.float32)
    win = min(7, *(s - 1 + s % 2 for s in shape[1:]))
    expected = [
        structural_similarity(p.astype(float), t.astype(float), data_range=1.0, win_size=win)
        for p, t in zip(prediction, target, strict=True)
    ]
    np.testing.assert_allclose(ssim(prediction, target), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ssim(target, target), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="equal"):
        ssim(prediction[:, :, :-1], target)


def test_summarize_ignores_non_finite():
    s = summarize(np.array([1.0, 2.0, 3.0, np.inf]))
    assert s["mean"] == pytest.approx(2.0) and s["median"] == pytest.approx(2.0)
    assert summarize(np.array([np.inf]))["mean"] is None


def test_tuning_picks_the_right_widths():
    rng = np.random.default_rng(0)
    clean = np.zeros((20, 32, 32))
    clean[:, 8:24, 8:24] = 1.0
    noisy = clean + rng.normal(0, 0.3, clean.shape)
    filters = {
        f.name: f
        for f in baselines.image_denoising_baselines(noisy, clean, [0.3, 1.0, 8.0], [2, 3, 15])
    }
    # neither no smoothing nor smoothing away the square is best
    assert filters["gaussian"].value == 1.0
    assert filters["median"].value == 3
    assert set(filters["gaussian"].val_scores) == {"0.3", "1.0", "8.0"}
    ident = per_sample_mse(filters["identity"].apply(noisy), clean).mean()
    assert per_sample_mse(filters["gaussian"].apply(noisy), clean).mean() < ident / 3


def test_filters_act_per_image():
    """The sample axis is never smoothed across."""
    images = np.zeros((3, 8, 8))
    images[1] = 1.0
    for out in (baselines.gaussian(images, 2.0), baselines.median(images, 3)):
        np.testing.assert_allclose(out[0], 0.0)
        np.testing.assert_allclose(out[1], 1.0)


def test_colour_images_are_judged_channel_by_channel():
    """Colour images (N, 3, H, W): SSIM is scikit-image's with channel_axis (the mean over
    channels); filters, the bicubic baseline and the pooling of super-resolution inputs act
    on each channel alone, exactly as on single-channel images."""
    from skimage.metrics import structural_similarity

    from aeflow.data.tasks import average_pool, upsample_nearest

    rng = np.random.default_rng(5)
    target = rng.random((4, 3, 12, 16))
    prediction = np.clip(target + 0.2 * rng.standard_normal(target.shape), 0, 1)
    expected = [
        structural_similarity(p, t, data_range=1.0, win_size=7, channel_axis=0)
        for p, t in zip(prediction, target, strict=True)
    ]
    np.testing.assert_allclose(ssim(prediction, target), expected, rtol=0, atol=1e-12)
    grey = target.reshape(12, 12, 16)  # the 12 channels as single-channel images
    for colour_out, grey_out in [
        (baselines.gaussian(target, 1.5), baselines.gaussian(grey, 1.5)),
        (baselines.median(target, 3), baselines.median(grey, 3)),
        (baselines.bicubic_upsampling(target, 2), baselines.bicubic_upsampling(grey, 2)),
        (average_pool(target, 4), average_pool(grey, 4)),
        (upsample_nearest(target, 2), upsample_nearest(grey, 2)),
    ]:
        assert colour_out.shape[:2] == (4, 3)
        np.testing.assert_array_equal(colour_out.reshape(grey_out.shape), grey_out)
    # a constant channel stays constant: no channel is mixed into another
    flat = np.zeros((2, 3, 8, 8))
    flat[:, 1] = 1.0
    for out in (baselines.gaussian(flat, 2.0), baselines.median(flat, 3)):
        np.testing.assert_allclose(out[:, 1], 1.0)
        np.testing.assert_allclose(out[:, [0, 2]], 0.0)

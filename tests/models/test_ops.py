"""The synthesis ops against straightforward reference formulations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.reference_synthesis import upfirdn2d
from engine.models import ops

TAPS = ops.make_fir_taps([1, 3, 3, 1])


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("channels_last", [False, True])
def test_phase_convolutions_equal_the_transposed_convolution(groups, channels_last):
    torch.manual_seed(0)
    x = torch.randn(1, 6 * groups, 5, 7)
    weight = torch.randn(4 * groups, 6, 3, 3)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    # conv_transpose2d wants [in, out/groups, k, k] per group
    weight_t = weight.reshape(groups, 4, 6, 3, 3).transpose(1, 2).reshape(groups * 6, 4, 3, 3)
    expected = F.conv_transpose2d(x, weight_t, stride=2, groups=groups)
    got = ops.transposed_conv3x3_stride2(x, ops.phase_kernels(weight), groups=groups)
    assert got.shape == expected.shape == (1, 4 * groups, 11, 15)
    assert torch.allclose(got, expected, atol=1e-5)


def test_fir_upsampling_equals_zero_insertion_and_filtering():
    x = torch.randn(2, 3, 6, 6)
    kernel = ops.fir_kernel(TAPS, 3, 4.0, torch.float32, torch.device("cpu"))
    expected = upfirdn2d(x, ops.fir_filter_2d(TAPS), up=2, pad=(2, 1, 2, 1), gain=4.0)
    assert torch.allclose(ops.fir_upsample_2x(x, kernel), expected, atol=1e-6)


def test_fir_keeps_a_constant_image_constant_inside():
    x = torch.ones(1, 2, 8, 8)
    up = ops.fir_upsample_2x(x, ops.fir_kernel(TAPS, 2, 4.0, torch.float32, torch.device("cpu")))
    assert torch.allclose(up[:, :, 2:-2, 2:-2], torch.ones(1, 2, 12, 12))


@pytest.mark.parametrize("taps,match", [([], "non-empty"), ([1, -1], "zero"), ([1, float("nan")], "finite")])
def test_bad_fir_taps(taps, match):
    with pytest.raises(ValueError, match=match):
        ops.make_fir_taps(taps)


def test_bias_lrelu_clamp():
    x = torch.tensor([[-2.0, 0.5, 300.0]])
    out = ops.bias_lrelu_clamp(x.clone(), torch.tensor([0.0, 0.5, 0.0]), gain=2.0, clamp=256.0)
    assert torch.allclose(out, torch.tensor([[-0.8, 2.0, 256.0]]))

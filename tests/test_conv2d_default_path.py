"""conv2d's default path on NumPy (paths.py's rule): a 3x3 stride-1
convolution with at least WINOGRAD_MIN_GROUP_CHANNELS (128) input channels
per group runs F(2x2, 3x3) Winograd, one with fewer im2col in chunks. The
count is per group, C_in / groups: 256 channels in 2 groups are 128 each
(Winograd), in 4 groups 64 each (MEC). Both give the reference op's
values."""

import numpy as np
import pytest

from minialex import Tensor
from minialex.functions._kernels import paths
from minialex.functions.conv2d import conv2d
from minialex.reference import conv2d as ref_conv2d


@pytest.mark.parametrize("C_in, groups, winograd", [
    (256, 2, True), (256, 4, False), (128, 1, True), (127, 1, False), (254, 2, False)])
def test_the_path_follows_the_input_channels_per_group(C_in, groups, winograd):
    assert paths.WINOGRAD_MIN_GROUP_CHANNELS == 128 and paths.WINOGRAD_BY_DEFAULT
    rng = np.random.default_rng(C_in + groups)
    # one image of 6x5 pixels: neither N nor H is the channel count
    x, w = rng.standard_normal((1, C_in, 6, 5)), rng.standard_normal((4, C_in // groups, 3, 3))
    y = conv2d(Tensor(x), Tensor(w, requires_grad=True), padding=1, groups=groups)
    assert y.creator.delegated and y.creator.winograd is winograd
    # under 128 a group: MEC (16 or more input, at most 96 output channels a group)
    assert y.creator.kern.__name__.rsplit(".", 1)[1] == ("winograd" if winograd else "mec")
    np.testing.assert_allclose(y.data, ref_conv2d(x, w, None, 1, 1, groups), rtol=1e-9, atol=1e-9)

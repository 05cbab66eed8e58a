"""minialex.data: data sets, augmentation and the mini-batch loader.

Depends only on NumPy, Pillow and tqdm (nothing else in minialex).

Transforms (callables t(x, rng) on NHWC batches; paper sections 2 and 4.1)
    Compose, random_crop, random_flip, center_crop, ten_crop, to_float32,
    PCAColor, normalize, to_nchw_float32; channel_mean, channel_std, mean_image
"""

from ._decode import ImageDecodeError
from ._paths import default_cache_dir, default_data_root
from .image_folder import load_image_folder
from .pca_color import PCAColor
from .transforms import (CenterCrop, Compose, Normalize, RandomCrop, RandomFlip, TenCrop,
                         ToFloat32, ToNCHWFloat32, center_crop, channel_mean, channel_std, crop,
                         mean_image, normalize, random_crop, random_flip, ten_crop, to_float32,
                         to_nchw_float32)
from .loader import DataLoader

"""minialex.data: data sets, augmentation and the mini-batch loader.

Depends only on NumPy, Pillow, tqdm and pooch (for downloading; nothing else in minialex).

Data sets
    load_cifar10(root=None, download=True)   CIFAR-10 from any official layout
    load_image_folder(root, split=None, size=None)   ImageFolder data sets, cached
    stratified_split(y, fraction, seed=0)   a fixed per-class train/validation split
    download_cifar10(root=None, url=CIFAR10_URL, md5=CIFAR10_MD5, size=CIFAR10_SIZE)

Transforms (callables t(x, rng) on NHWC batches; paper sections 2 and 4.1)
    Compose, random_crop, random_flip, center_crop, ten_crop, to_float32,
    PCAColor, normalize, to_nchw_float32; channel_mean, channel_std, mean_image

Loader
    DataLoader(x, y, batch_size=128, shuffle=True, seed=0, drop_last=False,
               transform=None, prefetch=2)

Training pipeline (CIFAR-10, crops 28 of 32 like the paper's 224 of 256):
uint8 NHWC -> random_crop(28) -> random_flip() -> to_float32() -> PCAColor
-> normalize(mean) -> to_nchw_float32(). Test: center_crop(28) (or
ten_crop(28)) -> to_float32() -> normalize(mean) -> to_nchw_float32().
"""

from ._decode import ImageDecodeError
from ._paths import default_cache_dir, default_data_root
from .cifar10 import find_cifar10, load_cifar10
from .cifar10_formats import (CIFAR10_CLASSES, RestrictedUnpickler, read_binary_release,
                              read_python_release)
from .download import (CIFAR10_MD5, CIFAR10_SIZE, CIFAR10_URL, DownloadError, download_cifar10,
                       download_file, extract_cifar10)
from .image_folder import load_image_folder
from .loader import DataLoader
from .pca_color import PCAColor
from .split import stratified_split
from .transforms import (CenterCrop, Compose, Normalize, RandomCrop, RandomFlip, TenCrop,
                         ToFloat32, ToNCHWFloat32, center_crop, channel_mean, channel_std, crop,
                         mean_image, normalize, random_crop, random_flip, ten_crop, to_float32,
                         to_nchw_float32)

__all__ = [
    "load_cifar10", "find_cifar10", "load_image_folder", "download_cifar10", "download_file",
    "extract_cifar10", "read_binary_release", "read_python_release", "RestrictedUnpickler",
    "CIFAR10_CLASSES", "CIFAR10_URL", "CIFAR10_MD5", "CIFAR10_SIZE", "DownloadError",
    "ImageDecodeError", "default_data_root", "default_cache_dir",
    "Compose", "RandomCrop", "RandomFlip", "CenterCrop", "TenCrop", "Normalize", "ToFloat32",
    "ToNCHWFloat32", "PCAColor", "crop", "random_crop", "random_flip", "center_crop", "ten_crop",
    "normalize", "to_float32", "to_nchw_float32", "channel_mean", "channel_std", "mean_image",
    "DataLoader", "stratified_split",
]

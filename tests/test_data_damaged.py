"""Damaged CIFAR-10 python batches: the error names the file and what is wrong."""

import pickle

import pytest

from minialex.data import load_cifar10
from minialex.data.cifar10_formats import read_python_batch
from test_data_formats import Evil, fake_cifar, write_python


@pytest.mark.parametrize("keep", [0, 1, 100, 0.5, -1])
def test_truncated_python_batch_names_the_file(tmp_path, keep):
    write_python(tmp_path, fake_cifar())
    p = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    raw = p.read_bytes()
    p.write_bytes(raw[:int(len(raw) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(ValueError, match=r"data_batch_2.*truncated or not a CIFAR-10 python "
                                         r"batch.*download it again"):
        load_cifar10(tmp_path, download=False)


def test_refused_global_names_the_file(tmp_path):
    path = tmp_path / "test_batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": Evil(tmp_path / "pwned"), b"labels": [0]}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"test_batch.*refusing to load global"):
        read_python_batch(path)
    assert not (tmp_path / "pwned").exists()


def test_meta_without_label_names_names_the_file(tmp_path):
    write_python(tmp_path, fake_cifar())
    meta = tmp_path / "cifar-10-batches-py" / "batches.meta"
    with open(meta, "wb") as f:
        pickle.dump({b"num_cases_per_batch": 10}, f, protocol=2)
    with pytest.raises(ValueError, match=r"batches.meta.*label_names"):
        load_cifar10(tmp_path, download=False)

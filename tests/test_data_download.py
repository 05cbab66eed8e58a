"""Downloading the binary release from a local HTTP server: MD5 and size
checks, safe extraction, nothing half-written on failure, clear errors; the
download goes through pooch."""

import functools
import hashlib
import http.server
import io
import socket
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pooch
import pytest

import minialex.data.cifar10 as cifar10_module
from minialex.data import (CIFAR10_MD5, CIFAR10_SIZE, CIFAR10_URL, DownloadError,
                           download_cifar10, download_file, load_cifar10)

N = 3  # records per batch file


def record_bytes(seed):
    rng = np.random.default_rng(seed)
    rec = rng.integers(0, 256, size=(N, 3073), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 10, size=N)
    return rec.tobytes()


def official_members():
    files = {f"data_batch_{i}.bin": record_bytes(i) for i in range(1, 6)}
    files["test_batch.bin"] = record_bytes(9)
    files["batches.meta.txt"] = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
    return {f"cifar-10-batches-bin/{k}": v for k, v in files.items()}


def make_archive(members, symlinks=()):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        d = tarfile.TarInfo("cifar-10-batches-bin")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in symlinks:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


class Server:
    """http.server on 127.0.0.1, port 0, serving {path: bytes}; a path in
    ``truncate`` announces its full length but sends only half, then closes."""

    def __init__(self, files, truncate=()):
        files, truncate = dict(files), set(truncate)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in truncate else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def md5(data):
    return hashlib.md5(data).hexdigest()


def test_constants_are_the_official_ones():
    assert CIFAR10_URL == "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    assert CIFAR10_MD5 == "c32a1d4ab5d03f1284b67883e8d87530"
    assert CIFAR10_SIZE == 170_052_171


def test_good_archive_is_extracted_and_loads(tmp_path):
    members = official_members()
    members["cifar-10-batches-bin/unexpected.sh"] = b"echo hi"     # not expected: skipped
    archive = make_archive(members)
    root = tmp_path / "root"
    with Server({"/cifar-10-binary.tar.gz": archive}) as s:
        folder = download_cifar10(root, url=s.url + "/cifar-10-binary.tar.gz", md5=md5(archive),
                                  size=len(archive), progress=False)
    assert folder == root / "cifar-10-batches-bin"
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-bin"]   # archive removed
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin", "batches.meta.txt"])
    x_train, y_train, x_test, y_test, classes = load_cifar10(root, download=False)
    rec = np.frombuffer(members["cifar-10-batches-bin/data_batch_2.bin"], np.uint8).reshape(N, 3073)
    np.testing.assert_array_equal(y_train[N:2 * N], rec[:, 0])
    np.testing.assert_array_equal(x_train[N, :, :, 1], rec[0, 1 + 1024:1 + 2048].reshape(32, 32))
    assert x_train.shape == (5 * N, 32, 32, 3) and x_test.shape == (N, 32, 32, 3)


def test_load_cifar10_downloads_when_nothing_is_there(tmp_path, monkeypatch):
    archive = make_archive(official_members())
    with Server({"/a.tar.gz": archive}) as s:
        monkeypatch.setattr(cifar10_module, "download_cifar10", functools.partial(
            download_cifar10, url=s.url + "/a.tar.gz", md5=md5(archive), size=None))
        got = load_cifar10(tmp_path, download=True, progress=False)
    assert got[0].shape == (5 * N, 32, 32, 3) and got[4][0] == "airplane"
    assert (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").is_file()


def assert_nothing_left(root):
    assert not root.exists() or list(root.iterdir()) == []


def test_wrong_md5_is_refused_and_nothing_is_left(tmp_path):
    archive = make_archive(official_members())
    root = tmp_path / "root"
    with Server({"/a.tar.gz": archive}) as s:
        with pytest.raises(DownloadError, match="MD5"):
            download_cifar10(root, url=s.url + "/a.tar.gz", md5="0" * 32, size=None,
                             progress=False)
        with pytest.raises(DownloadError, match="bytes, expected"):
            download_cifar10(root, url=s.url + "/a.tar.gz", md5=None, size=len(archive) + 1,
                             progress=False)
    assert_nothing_left(root)


def test_interrupted_download_leaves_nothing(tmp_path):
    archive = make_archive(official_members())
    root = tmp_path / "root"
    with Server({"/a.tar.gz": archive}, truncate={"/a.tar.gz"}) as s:
        with pytest.raises(DownloadError, match="stopped after"):
            download_cifar10(root, url=s.url + "/a.tar.gz", md5=None, size=None, progress=False)
    assert_nothing_left(root)


@pytest.mark.parametrize("bad_name", ["../evil.bin", "cifar-10-batches-bin/../../evil.bin",
                                      "/tmp/evil.bin"])
def test_path_traversal_member_is_refused(tmp_path, bad_name):
    members = official_members()
    members[bad_name] = b"gotcha"
    archive = make_archive(members)
    root = tmp_path / "a" / "b"
    with Server({"/a.tar.gz": archive}) as s:
        with pytest.raises(DownloadError, match="refusing archive member"):
            download_cifar10(root, url=s.url + "/a.tar.gz", md5=md5(archive), size=None,
                             progress=False)
    assert_nothing_left(root)
    assert not (tmp_path / "a" / "evil.bin").exists() and not (tmp_path / "evil.bin").exists()


def test_symlink_member_and_missing_file_are_refused(tmp_path):
    archive = make_archive(official_members(),
                           symlinks=[("cifar-10-batches-bin/data_batch_6.bin", "/etc/passwd")])
    members = official_members()
    del members["cifar-10-batches-bin/test_batch.bin"]
    incomplete = make_archive(members)
    root = tmp_path / "root"
    with Server({"/link.tar.gz": archive, "/short.tar.gz": incomplete}) as s:
        with pytest.raises(DownloadError, match="links"):
            download_cifar10(root, url=s.url + "/link.tar.gz", md5=None, size=None, progress=False)
        with pytest.raises(DownloadError, match="test_batch.bin"):
            download_cifar10(root, url=s.url + "/short.tar.gz", md5=None, size=None,
                             progress=False)
    assert_nothing_left(root)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_network_error_names_url_folder_and_fix(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/cifar-10-binary.tar.gz"
    with pytest.raises(DownloadError) as info:
        download_cifar10(tmp_path / "r", url=url, progress=False, timeout=5)
    msg = str(info.value)
    assert url in msg and str(tmp_path / "r") in msg
    assert "root=" in msg and "MINIALEX_DATA" in msg
    assert_nothing_left(tmp_path / "r")


def test_pooch_does_the_download_with_the_md5(tmp_path, monkeypatch):
    calls = []
    real = pooch.retrieve

    def spy(url, **kwargs):
        calls.append((url, kwargs))
        return real(url, **kwargs)

    monkeypatch.setattr(pooch, "retrieve", spy)
    archive = make_archive(official_members())
    root = tmp_path / "root"
    with Server({"/cifar-10-binary.tar.gz": archive}) as s:
        url = s.url + "/cifar-10-binary.tar.gz"
        download_cifar10(root, url=url, md5=md5(archive).upper(), size=len(archive),
                         progress=False)
    assert len(calls) == 1
    got_url, kwargs = calls[0]
    assert got_url == url and kwargs["known_hash"] == "md5:" + md5(archive)
    assert kwargs["fname"] == "cifar-10-binary.tar.gz" and Path(kwargs["path"]) == root
    assert callable(kwargs["downloader"])
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-bin"]


def test_file_url_is_downloaded_through_pooch(tmp_path, monkeypatch):
    calls = []
    real = pooch.retrieve
    monkeypatch.setattr(pooch, "retrieve", lambda url, **kw: calls.append(url) or real(url, **kw))
    archive = make_archive(official_members())
    src = tmp_path / "src" / "cifar-10-binary.tar.gz"
    src.parent.mkdir()
    src.write_bytes(archive)
    root = tmp_path / "root"
    folder = download_cifar10(root, url=src.as_uri(), md5=md5(archive), size=len(archive),
                              progress=False)
    assert calls == [src.as_uri()]
    assert (folder / "test_batch.bin").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-bin"]
    with pytest.raises(DownloadError, match="could not download file:"):
        download_cifar10(root / "x", url=(tmp_path / "missing.tar.gz").as_uri(), progress=False)
    assert_nothing_left(root / "x")


def test_download_file_errors_name_the_url_and_leave_nothing(tmp_path):
    data = b"0123456789" * 5000
    dest = tmp_path / "d" / "f.bin"
    with Server({"/f": data, "/t": data}, truncate={"/t"}) as s:
        with pytest.raises(DownloadError, match=f"could not download {s.url}/missing.*404"):
            download_file(s.url + "/missing", dest, progress=False)
        with pytest.raises(DownloadError,
                           match=f"{s.url}/t stopped after {len(data) // 2} of {len(data)} bytes"):
            download_file(s.url + "/t", dest, progress=False)
        with pytest.raises(DownloadError, match=f"{s.url}/f has MD5 {md5(data)}, expected 0+"):
            download_file(s.url + "/f", dest, md5="0" * 32, progress=False)
        with pytest.raises(DownloadError, match=f"{s.url}/f is {len(data)} bytes, expected 7"):
            download_file(s.url + "/f", dest, size=7, progress=False)
    assert_nothing_left(dest.parent)
    with pytest.raises(DownloadError, match="unsupported URL scheme 'gopher'"):
        download_file("gopher://example.org/f", dest, progress=False)
    assert_nothing_left(dest.parent)


def test_existing_file_kept_if_verified_else_replaced_atomically(tmp_path, capfd):
    data, other = b"new contents" * 100, b"old contents"
    dest = tmp_path / "f.bin"
    with Server({"/f": data}) as s:
        dest.write_bytes(data)                 # verified by its MD5: pooch keeps it
        assert download_file(s.url + "/gone", dest, md5=md5(data), size=len(data),
                             progress=False) == dest
        dest.write_bytes(other)                # wrong MD5: downloaded again
        download_file(s.url + "/f", dest, md5=md5(data), progress=False)
        assert dest.read_bytes() == data
        dest.write_bytes(other)                # no MD5 to verify it: a fresh copy replaces it
        download_file(s.url + "/f", dest, progress=False)
        assert dest.read_bytes() == data
        dest.write_bytes(other)                # a failed download leaves it as it was
        with pytest.raises(DownloadError, match="404"):
            download_file(s.url + "/gone", dest, progress=False)
        with pytest.raises(DownloadError, match="MD5"):
            download_file(s.url + "/f", dest, md5="0" * 32, progress=False)
    assert dest.read_bytes() == other
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
    assert capfd.readouterr().err == ""        # progress=False: no bar, no pooch log lines


def test_without_pooch_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)        # makes `import pooch` fail
    with pytest.raises(DownloadError, match=r"needs pooch \(pip install 'pooch>=1.6'\)") as info:
        download_cifar10(tmp_path / "r", url="http://127.0.0.1:9/a.tar.gz", progress=False)
    assert "root=" in str(info.value)
    assert_nothing_left(tmp_path / "r")

"""`tfbench data download` against a local HTTP server on 127.0.0.1 serving small archives in the
real layouts: full download, resume after a broken connection, corrupted archives, no network,
unsafe members, and the CLI end to end."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import re
import socket
import tarfile
import threading
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tfbench.cli.main import app
from tfbench.data import DataWarning, load_dataset
from tfbench.data import download as dl
from tfbench.data import named
from tfbench.errors import DataError

# ------------------------------------------------------------------------------------ local server


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        state = self.server.state
        path = self.path.split("?")[0]
        rng = self.headers.get("Range")
        state.requests.append((path, rng))
        body = state.files.get(path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if rng and state.ranges:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if state.cut_after is not None:  # send this many bytes, then drop the connection (once)
            n, state.cut_after = state.cut_after, None
            self.wfile.write(payload[:n])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)


class Server:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.cut_after: int | None = None
        self.ranges = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.state = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    s = Server()
    monkeypatch.setenv(dl.BASE_URL_ENV, s.base)
    yield s
    s.close()


# ------------------------------------------------------------------------------------ archives

FRAPPE_HEADER = "label,user,item,daytime,weekday,isweekend,homework,cost,weather,country,city"
FRAPPE_ROWS = {"train": 300, "valid": 80, "test": 40}


def frappe_files(seed=0) -> dict[str, bytes]:
    rng = random.Random(seed)
    out = {}
    for split, n in FRAPPE_ROWS.items():
        lines = [FRAPPE_HEADER] + [
            f"{rng.randrange(2)},u{rng.randrange(15)},i{rng.randrange(25)},{rng.choice(['morning', 'night'])},"
            f"sunday,weekend,unknown,free,{rng.choice(['sunny', 'rainy'])},Spain,{rng.randrange(4)}"
            for _ in range(n)
        ]
        out[f"{split}.csv"] = ("\n".join(lines) + "\n").encode()
    return out


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def use_archive(monkeypatch, name, **changes) -> dl.Archive:
    """Register a test version of a dataset's archive spec (restored after the test)."""
    monkeypatch.setitem(dl.ARCHIVES, name, dl.ARCHIVES[name])
    spec = dataclasses.replace(dl.ARCHIVES[name], **changes)
    dl.register_archive(spec)
    return spec


def frappe_archive(monkeypatch, server, files=None, checksum="sha256", layout="") -> tuple[bytes, dict]:
    """Serve a Frappe_x1.zip (members under ``layout``) and register its checksums."""
    files = files or frappe_files()
    data = zip_bytes({layout + k: v for k, v in files.items()})
    server.files["/Frappe_x1.zip"] = data
    use_archive(
        monkeypatch, "frappe",
        checksum=f"sha256:{sha256(data)}" if checksum == "sha256" else None,
        file_checksums={k: f"md5:{md5(v)}" for k, v in files.items()},
    )
    return data, files


def load_quiet(name, root, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # tiny files differ from Table III
        return load_dataset(name, data_dir=root, cache_dir=tmp_path / "cache")


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg
    return msg


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# ------------------------------------------------------------------------------------ tests


def test_registry_matches_the_loader_layout_and_checksums_are_well_formed():
    assert set(dl.ARCHIVES) == set(named.PAPER_DATASETS)
    for name, a in dl.ARCHIVES.items():
        spec = named.PAPER_DATASETS[name]
        assert (a.folder, a.files) == (spec.folder, spec.files)
        assert a.urls and all(u.startswith("https://") for u in a.urls)
        assert a.format == "zip" and a.filename.endswith(".zip")
        for value in [a.checksum, *a.file_checksums.values()]:
            if value is not None:
                dl._parse_checksum(value)
        # every dataset has something published to verify: the archive or its unpacked files
        assert a.checksum is not None or set(a.file_checksums) == set(a.files), name
        assert a.provenance
    assert dl.archive_urls(dl.ARCHIVES["criteo"], "http://mirror/x/") == ["http://mirror/x/Criteo_x4.zip"]


def test_full_download_verifies_unpacks_and_loads(server, monkeypatch, tmp_path):
    data, files = frappe_archive(monkeypatch, server, layout="")  # files at the archive's top level
    root = tmp_path / "data"
    seen = []
    result = dl.download("frappe", root, progress=lambda d, t: seen.append((d, t)))
    folder = root / "Frappe_x1"
    assert result.folder == folder and not result.skipped and result.resumed_from == 0
    assert result.sha256 == sha256(data) and result.bytes == len(data)
    assert f"sha256 {sha256(data)} matches the published checksum" in result.checks
    assert "train.csv, valid.csv, test.csv match the published md5 sums" in result.checks
    for name, content in files.items():
        assert (folder / name).read_bytes() == content
    assert leftovers(root) == ["Frappe_x1"]  # no .part, no temporary folder
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert server.requests == [("/Frappe_x1.zip", None)]

    ds = load_quiet("frappe", root, tmp_path)
    assert {s: len(getattr(ds, s)) for s in FRAPPE_ROWS} == FRAPPE_ROWS
    positives = sum(line.startswith(b"1,") for line in files["train.csv"].splitlines())
    assert int(ds.train.y.sum()) == positives

    again = dl.download("frappe", root)  # present: nothing is fetched
    assert again.skipped and len(server.requests) == 1


def test_ml1m_archive_with_its_folder_and_published_md5(server, monkeypatch, tmp_path):
    rng = random.Random(3)
    users = "".join(f"{u}::{rng.choice('MF')}::{rng.choice([1, 18, 25])}::{rng.randrange(21)}::1000{u}\n" for u in range(1, 6))
    ratings = "".join(f"{rng.randrange(1, 6)}::{rng.randrange(1, 9)}::{rng.randrange(1, 6)}::{978300000 + i}\n" for i in range(50))
    members = {"ml-1m/movies.dat": b"1::Toy Story (1995)::Animation\n", "ml-1m/ratings.dat": ratings.encode(),
               "ml-1m/README": b"readme\n", "ml-1m/users.dat": users.encode()}
    data = zip_bytes(members)
    server.files["/ml-1m.zip"] = data
    real = dl.ARCHIVES["ml-1m"]
    assert real.checksum.startswith("md5:") and real.urls[0].endswith("/ml-1m.zip")
    use_archive(monkeypatch, "ml-1m", checksum=f"md5:{md5(data)}")

    root = tmp_path / "data"
    result = dl.download("ml-1m", root)
    assert result.checks == [f"md5 {md5(data)} matches the published checksum"]
    assert sorted(p.name for p in (root / "ml-1m").iterdir()) == ["README", "movies.dat", "ratings.dat", "users.dat"]
    ds = load_quiet("ml-1m", root, tmp_path)
    assert (len(ds.train), len(ds.valid), len(ds.test)) == (40, 5, 5)
    labels = sum(int(line.split("::")[2]) >= 4 for line in ratings.splitlines())
    assert int(sum(s.y.sum() for s in ds.splits().values())) == labels


def test_tar_gz_archive_unpacks_the_folder_that_holds_the_files(server, monkeypatch, tmp_path):
    files = frappe_files(1)
    data = tar_gz_bytes({"Frappe_x1/" + k: v for k, v in files.items()} | {"other/notes.txt": b"x"})
    server.files["/Frappe_x1.tar.gz"] = data
    use_archive(monkeypatch, "frappe", filename="Frappe_x1.tar.gz", format="tar.gz", checksum=None,
                file_checksums={"train.csv": f"md5:{md5(files['train.csv'])}"})
    root = tmp_path / "data"
    result = dl.download("frappe", root)
    assert result.checks[0] == f"no published checksum; recorded sha256 {sha256(data)}"
    assert sorted(p.name for p in (root / "Frappe_x1").iterdir()) == ["test.csv", "train.csv", "valid.csv"]
    assert (root / "Frappe_x1" / "valid.csv").read_bytes() == files["valid.csv"]
    assert leftovers(root) == ["Frappe_x1"]


def test_broken_download_leaves_part_and_resumes_with_range(server, monkeypatch, tmp_path):
    data, files = frappe_archive(monkeypatch, server, layout="Frappe_x1/")
    half = len(data) // 2
    server.cut_after = half
    root = tmp_path / "data"
    part = root / "Frappe_x1.zip.part"
    with pytest.raises(DataError) as info:
        dl.download("frappe", root)
    msg = one_line(info)
    assert f"broke off after {half:,} of {len(data):,} bytes" in msg and str(part) in msg and "resume" in msg
    assert part.read_bytes() == data[:half]
    assert not (root / "Frappe_x1").exists()

    seen = []
    result = dl.download("frappe", root, progress=lambda d, t: seen.append((d, t)))
    assert server.requests[-1] == ("/Frappe_x1.zip", f"bytes={half}-")
    assert result.resumed_from == half and seen[0] == (half, len(data))
    assert result.sha256 == sha256(data)
    assert (root / "Frappe_x1" / "train.csv").read_bytes() == files["train.csv"]
    assert leftovers(root) == ["Frappe_x1"]


def test_server_without_ranges_restarts_from_zero(server, monkeypatch, tmp_path):
    data, _ = frappe_archive(monkeypatch, server)
    server.ranges = False  # answers every request with 200 and the whole file
    server.cut_after = len(data) // 3
    root = tmp_path / "data"
    with pytest.raises(DataError):
        dl.download("frappe", root)
    result = dl.download("frappe", root)
    assert server.requests[-1] == ("/Frappe_x1.zip", f"bytes={len(data) // 3}-")
    assert result.resumed_from == 0 and result.sha256 == sha256(data) and result.bytes == len(data)
    assert leftovers(root) == ["Frappe_x1"]


def test_complete_part_left_before_unpacking_is_not_fetched_again(server, monkeypatch, tmp_path):
    data, _ = frappe_archive(monkeypatch, server)
    root = tmp_path / "data"
    root.mkdir()
    (root / "Frappe_x1.zip.part").write_bytes(data)
    (root / "Frappe_x1.zip.part.url").write_text(server.base + "/Frappe_x1.zip")
    result = dl.download("frappe", root)
    assert server.requests == [("/Frappe_x1.zip", f"bytes={len(data)}-")]  # answered 416: already complete
    assert result.sha256 == sha256(data) and leftovers(root) == ["Frappe_x1"]


def test_corrupted_archive_is_rejected_and_nothing_is_left(server, monkeypatch, tmp_path):
    data, _ = frappe_archive(monkeypatch, server)
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0xFF
    server.files["/Frappe_x1.zip"] = bytes(bad)
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        dl.download("frappe", root)
    msg = one_line(info)
    assert "Frappe_x1.zip" in msg and "checksum mismatch" in msg
    assert f"expected sha256 {sha256(data)}, got sha256 {sha256(bytes(bad))}" in msg
    assert leftovers(root) == []  # no .part, no unpacked or temporary folder


def test_without_archive_checksum_a_corrupted_file_fails_its_published_md5(server, monkeypatch, tmp_path):
    good = frappe_files()
    frappe_archive(monkeypatch, server, files=good, checksum=None)
    changed = dict(good, **{"train.csv": good["train.csv"].replace(b"\n0,", b"\n1,", 1)})
    server.files["/Frappe_x1.zip"] = zip_bytes(changed)  # a valid zip whose train.csv differs
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        dl.download("frappe", root)
    msg = one_line(info)
    assert "Frappe_x1.zip" in msg and "train.csv" in msg
    assert f"md5 {md5(changed['train.csv'])}, expected the published {md5(good['train.csv'])}" in msg
    assert leftovers(root) == []


def test_damaged_zip_without_any_checksum_is_rejected(server, monkeypatch, tmp_path):
    data, _ = frappe_archive(monkeypatch, server)
    use_archive(monkeypatch, "frappe", checksum=None, file_checksums={})
    server.files["/Frappe_x1.zip"] = data[: len(data) - 30]  # truncated: no central directory
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        dl.download("frappe", root)
    assert "Frappe_x1.zip" in one_line(info) and "not a readable zip archive" in str(info.value)
    assert leftovers(root) == []


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("name", ["frappe", "ml-1m"])
def test_no_network_says_which_url_failed_and_where_to_put_the_files(name, tmp_path):
    url_base = f"http://127.0.0.1:{closed_port()}"
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        dl.download(name, root, base_url=url_base, timeout=5)
    msg = one_line(info)
    spec = named.PAPER_DATASETS[name]
    assert f"{url_base}/{dl.ARCHIVES[name].filename}: Connection refused" in msg
    assert f"put {', '.join(spec.files)} into {root / spec.folder}" in msg
    assert not (root / spec.folder).exists() and not list(root.glob("*.part"))
    with pytest.raises(DataError) as info:  # the loader points at the download command
        load_dataset(name, data_dir=root, cache_dir=tmp_path / "cache")
    assert f"`tfbench data download {name}`" in one_line(info)


def test_http_error_is_reported_with_the_manual_instructions(server, tmp_path):
    with pytest.raises(DataError) as info:
        dl.download("kkbox", tmp_path / "data")  # the server has no KKBox_x1.zip
    msg = one_line(info)
    assert f"{server.base}/KKBox_x1.zip: HTTP 404" in msg and "put train.csv, valid.csv, test.csv into" in msg


@pytest.mark.parametrize("fmt,evil", [("zip", "../evil.txt"), ("zip", "ABS"), ("zip", "C:/evil.txt"),
                                       ("tar.gz", "../evil.txt"), ("tar.gz", "ABS")])
def test_archive_member_outside_the_folder_is_refused(server, monkeypatch, tmp_path, fmt, evil):
    outside = tmp_path / "outside" / "evil.txt"  # an absolute member points here
    evil = str(outside) if evil == "ABS" else evil
    members = dict(frappe_files()) | {evil: b"owned"}
    data = zip_bytes(members) if fmt == "zip" else tar_gz_bytes(members)
    filename = "Frappe_x1." + fmt
    server.files["/" + filename] = data
    use_archive(monkeypatch, "frappe", filename=filename, format=fmt, checksum=f"sha256:{sha256(data)}", file_checksums={})
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        dl.download("frappe", root)
    msg = one_line(info)
    assert f"member '{evil}'" in msg and "refusing to unpack" in msg
    assert not (tmp_path / "evil.txt").exists() and not outside.exists()
    assert leftovers(root) == []


def test_existing_incomplete_folder_needs_force(server, monkeypatch, tmp_path):
    _, files = frappe_archive(monkeypatch, server)
    root = tmp_path / "data"
    (root / "Frappe_x1").mkdir(parents=True)
    (root / "Frappe_x1" / "train.csv").write_text("label,user\n")
    with pytest.raises(DataError) as info:
        dl.download("frappe", root)
    assert "lacks valid.csv, test.csv" in one_line(info) and "--force" in str(info.value)
    dl.download("frappe", root, force=True)
    assert (root / "Frappe_x1" / "train.csv").read_bytes() == files["train.csv"]
    assert leftovers(root) == ["Frappe_x1"]


def test_cli_download_and_prepare_end_to_end(server, monkeypatch, tmp_path, isolated):
    data, files = frappe_archive(monkeypatch, server, checksum=None)
    root = tmp_path / "data"
    runner = CliRunner()
    r = runner.invoke(app, ["data", "download", "frappe", "--data-dir", str(root)])
    assert r.exit_code == 0, r.output
    assert f"fetching {server.base}/Frappe_x1.zip" in r.output
    percents = re.findall(r"frappe: (\d+)% \(", r.output)
    assert percents[-1] == "100" and len(percents) == len(set(percents))
    assert f"no published checksum; recorded sha256 {sha256(data)}" in r.output
    assert f"unpacked into {root / 'Frappe_x1'}" in r.output
    assert (root / "Frappe_x1" / "test.csv").read_bytes() == files["test.csv"]

    r = runner.invoke(app, ["data", "download", "frappe", "--data-dir", str(root)])
    assert r.exit_code == 0 and "already present" in r.output and len(server.requests) == 1
    r = runner.invoke(app, ["data", "download", "frappe", "--data-dir", str(root), "--force"])
    assert r.exit_code == 0 and len(server.requests) == 2

    r = runner.invoke(app, ["data", "prepare", "frappe", "--data-dir", str(root)])
    assert r.exit_code == 0, r.output
    assert "(cache miss)" in r.output and re.search(r"train\s*│\s*300\s*│\s*202,027", r.output)
    r = runner.invoke(app, ["data", "info", "frappe", "--data-dir", str(root)])
    assert r.exit_code == 0 and "(cache hit)" in r.output


def test_cli_without_network_is_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv(dl.BASE_URL_ENV, f"http://127.0.0.1:{closed_port()}")
    r = CliRunner().invoke(app, ["data", "download", "criteo", "--data-dir", str(tmp_path / "data")])
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert r.exit_code == 2 and lines[-1].startswith("error: cannot download criteo:"), r.output
    assert "Traceback" not in r.output and str(tmp_path / "data" / "Criteo_x4") in lines[-1]
    r = CliRunner().invoke(app, ["data", "download", "nope", "--data-dir", str(tmp_path / "data")])
    assert r.exit_code == 2 and "error: no download for dataset 'nope'" in r.output

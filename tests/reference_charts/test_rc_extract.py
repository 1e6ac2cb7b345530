"""Safe unpacking: hostile archives are refused with a reason before anything lands outside the target."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import pytest
from rc_chartkit import chart_members, file_member, tar_gz

from reference.charts.errors import ArchiveError
from reference.charts.extract import ArchiveLimits, extract_chart


def _refused(tmp_path: Path, archive: Path, limits: ArchiveLimits | None = None) -> ArchiveError:
    with pytest.raises(ArchiveError) as info:
        extract_chart(archive, tmp_path / f"out-{archive.stem}", limits)
    assert "\n" not in info.value.reason
    return info.value


def test_a_normal_chart_unpacks(tmp_path: Path) -> None:
    archive = tar_gz(tmp_path / "ok.tgz", [*chart_members(), file_member("mini/templates/cm.yaml")])
    chart = extract_chart(archive, tmp_path / "out")
    assert chart == tmp_path / "out" / "mini"
    assert (chart / "templates" / "cm.yaml").read_text() == "x: 1\n"


def test_path_traversal_is_refused(tmp_path: Path) -> None:
    archive = tar_gz(tmp_path / "a.tgz", [*chart_members(), file_member("mini/../../escaped.yaml")])
    error = _refused(tmp_path, archive)
    assert error.problem == "path-traversal" and "'..'" in error.reason
    assert not (tmp_path / "escaped.yaml").exists()


def test_absolute_path_is_refused(tmp_path: Path) -> None:
    archive = tar_gz(tmp_path / "a.tgz", [*chart_members(), file_member(str(tmp_path / "abs.yaml"))])
    error = _refused(tmp_path, archive)
    assert error.problem == "absolute-path" and "absolute" in error.reason
    assert not (tmp_path / "abs.yaml").exists()


@pytest.mark.parametrize(
    ("kind", "says"),
    [(tarfile.SYMTYPE, "symbolic link"), (tarfile.LNKTYPE, "hard link"), (tarfile.CHRTYPE, "device"),
     (tarfile.FIFOTYPE, "FIFO")],
)
def test_links_and_special_files_are_refused(tmp_path: Path, kind: bytes, says: str) -> None:
    info = tarfile.TarInfo("mini/templates/evil.yaml")
    info.type = kind
    info.linkname = "/etc/passwd"
    error = _refused(tmp_path, tar_gz(tmp_path / "a.tgz", [*chart_members(), (info, None)]))
    assert says in error.reason and "mini/templates/evil.yaml" in error.reason


def test_decompression_bomb_stops_at_the_bound(tmp_path: Path) -> None:
    zeros = bytes(4 * 1024 * 1024)  # compresses to a few KiB
    archive = tar_gz(tmp_path / "bomb.tgz", [*chart_members(), file_member("mini/zeros.bin", zeros)])
    assert archive.stat().st_size < 64 * 1024
    limits = ArchiveLimits(max_decompressed_bytes=1024 * 1024)
    error = _refused(tmp_path, archive, limits)
    assert error.problem == "too-large" and str(1024 * 1024) in error.reason
    # streaming: far less than the bomb's payload was ever written
    written = sum(p.stat().st_size for p in (tmp_path / "out-bomb").rglob("*") if p.is_file())
    assert written <= 1024 * 1024


def test_too_many_members_is_refused(tmp_path: Path) -> None:
    members = [*chart_members(), *(file_member(f"mini/templates/t{i}.yaml") for i in range(20))]
    error = _refused(tmp_path, tar_gz(tmp_path / "many.tgz", members), ArchiveLimits(max_members=10))
    assert error.problem == "too-many-members" and "10" in error.reason


def test_oversized_archive_is_refused_before_reading(tmp_path: Path) -> None:
    archive = tar_gz(tmp_path / "a.tgz", [*chart_members(), file_member("mini/big.bin", bytes(range(256)) * 64)])
    error = _refused(tmp_path, archive, ArchiveLimits(max_archive_bytes=100))
    assert error.problem == "too-large"


def test_not_a_gzip_tar_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"this is no archive")
    assert _refused(tmp_path, junk).problem == "corrupt"
    truncated = tmp_path / "trunc.tgz"
    truncated.write_bytes(gzip.compress(b"\x00" * 100)[:30])
    assert _refused(tmp_path, truncated).problem == "corrupt"


def test_duplicate_members_are_refused(tmp_path: Path) -> None:
    members = [*chart_members(), file_member("mini/a.yaml"), file_member("mini/a.yaml", b"y: 2\n")]
    assert _refused(tmp_path, tar_gz(tmp_path / "dup.tgz", members)).problem == "duplicate"


def test_archive_without_a_chart_folder_is_refused(tmp_path: Path) -> None:
    two_roots = tar_gz(tmp_path / "two.tgz", [*chart_members("a"), *chart_members("b")])
    assert _refused(tmp_path, two_roots).problem == "not-a-chart"
    no_chart = tar_gz(tmp_path / "none.tgz", [file_member("mini/values.yaml")])
    error = _refused(tmp_path, no_chart)
    assert error.problem == "not-a-chart" and "Chart.yaml" in error.reason

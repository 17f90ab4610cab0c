"""Tests for core.gazetteer and the packaged demo gazetteer built by core.gazetteer_build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from shapely.geometry import Point, shape

from core import gazetteer_build
from core.gazetteer import DEFAULT_PATH, GazetteerError, load_gazetteer
from core.geo import distance_m

DATA = DEFAULT_PATH.parent
REFERENCE = yaml.safe_load((DATA / "gazetteer_reference.yaml").read_text(encoding="utf-8"))
SHARED = Path("/work/shared/data")


@pytest.fixture(scope="module")
def gaz():
    return load_gazetteer()


@pytest.fixture(scope="module")
def boundary():
    doc = json.loads((DATA / "zhouqu_county.geojson").read_text(encoding="utf-8"))
    return shape(doc["features"][0]["geometry"])


def test_reference_copies_match_shared_when_present() -> None:
    if not SHARED.exists():
        pytest.skip("no shared reference folder here")
    assert (DATA / "gazetteer_reference.yaml").read_bytes() == (SHARED / "gazetteer.yaml").read_bytes()
    assert (DATA / "zhouqu_county.geojson").read_bytes() == (SHARED / "zhouqu_county.geojson").read_bytes()


def test_townships_match_reference(gaz) -> None:
    assert len(gaz.townships) == 19
    assert [t.name for t in gaz.townships] == [t["name"] for t in REFERENCE["townships"]]
    for t, ref in zip(gaz.townships, REFERENCE["townships"], strict=True):
        assert t.code == ref.get("code")
    assert {t.name for t in gaz.townships if "pilot" in t.roles} == set(REFERENCE["pilot_townships"])
    assert gaz.county.name == REFERENCE["county"]["name"] and gaz.county.adcode == REFERENCE["county"]["adcode"]


def test_county_seat_is_surveyed_and_other_seats_generated(gaz) -> None:
    seat = REFERENCE["county"]["seat"]
    chengguan = gaz.township(seat["name"])
    assert (chengguan.lat, chengguan.lon, chengguan.generated) == (seat["lat"], seat["lon"], False)
    assert (gaz.county.seat.lat, gaz.county.seat.lon, gaz.county.seat.generated) == (seat["lat"], seat["lon"], False)
    assert all(t.generated for t in gaz.townships if t.name != seat["name"])
    spots = {(t.lat, t.lon) for t in gaz.townships}
    assert len(spots) == 19
    for a in gaz.townships:  # spread out: no two seats closer than 8 km
        for b in gaz.townships:
            if a.name < b.name:
                assert distance_m(a.lat, a.lon, b.lat, b.lon) > 8000, (a.name, b.name)


def test_197_villages_inside_boundary_all_generated(gaz, boundary) -> None:
    assert len(gaz.villages) == 197 == gaz.county.administrative_villages
    assert len({(v.township, v.name) for v in gaz.villages}) == 197
    assert len({(v.lat, v.lon) for v in gaz.villages}) == 197
    for v in gaz.villages:
        assert v.generated, v.name  # the reference gives no village positions
        assert boundary.contains(Point(v.lon, v.lat)), v.name
        assert gaz.contains(v.lat, v.lon)
        seat = gaz.township(v.township)
        assert distance_m(seat.lat, seat.lon, v.lat, v.lon) <= 5000, v.name
    for t in gaz.townships:
        assert boundary.contains(Point(t.lon, t.lat)), t.name
        assert 7 <= len(gaz.villages_in(t.name)) <= 11


def test_named_villages_keep_known_townships(gaz) -> None:
    assert gaz.village("杰迪村").township == "立节镇" and not gaz.village("杰迪村").township_generated
    assert gaz.village("得力村").township == "大峪镇" and not gaz.village("得力村").township_generated
    for role, key in (("key", "key_villages"), ("pilot", "pilot_villages")):
        for ref in REFERENCE[key]:
            v = gaz.village(ref["name"])
            assert role in v.roles
            assert v.township_generated == ("township" not in ref)
            if "township" in ref:
                assert v.township == ref["township"]
    dayu = {"大崖村", "香杭村", "大坪村", "老地村", "多拉村", "阿布村", "得力村"}  # reference comment, 2020
    assert {v.name for v in gaz.villages_in("大峪镇")} == dayu
    assert "seat" in gaz.village("老地村").roles


def test_unnamed_villages_are_clearly_synthetic(gaz) -> None:
    named = {v["name"] for key in ("key_villages", "pilot_villages") for v in REFERENCE[key]}
    named |= {v.name for v in gaz.villages_in("大峪镇")}
    demo = [v for v in gaz.villages if v.name not in named]
    assert len(demo) == 197 - len(named)
    assert all(v.name.startswith(f"{v.township}演示村") and not v.roles for v in demo)


def test_lookups(gaz) -> None:
    assert gaz.township("立节镇").name == "立节镇"
    assert all(v.township == "峰迭镇" for v in gaz.villages_in("峰迭镇"))
    with pytest.raises(KeyError):
        gaz.township("不存在镇")
    with pytest.raises(KeyError):
        gaz.villages_in("不存在镇")
    with pytest.raises(KeyError):
        gaz.village("不存在村")
    assert gaz.village("杰迪村", township="立节镇").name == "杰迪村"
    with pytest.raises(KeyError):
        gaz.village("杰迪村", township="大峪镇")
    assert not gaz.contains(35.0, 104.0) and gaz.contains(33.7936, 104.2513)
    assert gaz.boundary.geom_type == "Polygon"


def test_demo_villages_order(gaz) -> None:
    first = gaz.demo_villages(5)
    assert first[0][:2] == ("狼岔坝村", gaz.village("狼岔坝村").township)
    assert {name for name, *_ in first} == {v["name"] for v in REFERENCE["key_villages"]}
    assert gaz.demo_villages(9)[5:] == [
        (v.name, v.township, v.lat, v.lon) for v in (gaz.village(r["name"]) for r in REFERENCE["pilot_villages"])
    ]
    everyone = gaz.demo_villages(197)
    assert everyone[:20] == gaz.demo_villages(20) and len({(n, t) for n, t, *_ in everyone}) == 197
    assert gaz.demo_villages(0) == []
    with pytest.raises(ValueError):
        gaz.demo_villages(198)


def test_load_is_cached(gaz) -> None:
    assert load_gazetteer() is gaz
    assert load_gazetteer(DEFAULT_PATH) is gaz
    assert gaz.source == DEFAULT_PATH


def test_builder_is_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "gazetteer.yaml"
    gazetteer_build.main(["--reference-dir", str(DATA), "--out", str(out)])
    assert out.read_text(encoding="utf-8") == DEFAULT_PATH.read_text(encoding="utf-8")


def _copy(tmp_path: Path, edit) -> Path:
    shutil.copy(DATA / "zhouqu_county.geojson", tmp_path / "zhouqu_county.geojson")
    doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    edit(doc)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["villages"][0].update(colour="red"),  # unknown key
        lambda d: d["villages"][0].update(township="不存在镇"),  # unknown township
        lambda d: d["villages"][3].update(lat=35.5),  # outside the county
        lambda d: d["townships"].append(d["townships"][0]),  # duplicate township
        lambda d: d["county"].update(boundary="missing.geojson"),  # boundary file missing
        lambda d: d["villages"][0].pop("lat"),  # missing field
    ],
    ids=["extra-key", "unknown-township", "outside", "duplicate-township", "no-boundary", "missing-field"],
)
def test_bad_file_error_names_the_file(tmp_path: Path, edit) -> None:
    path = _copy(tmp_path, edit)
    with pytest.raises(GazetteerError) as info:
        load_gazetteer(path)
    assert str(path.resolve()) in str(info.value)


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("county: [unclosed\n", encoding="utf-8")
    for path in (broken, tmp_path / "absent.yaml"):
        with pytest.raises(GazetteerError, match=str(path.resolve())):
            load_gazetteer(path)

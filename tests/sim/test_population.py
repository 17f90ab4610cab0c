"""The synthetic county: rows pass their ledgers, counts near the targets, valid unique ID numbers, consistent
families, houses inside the county, deterministic."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from statistics import mean

import pytest

from core.gazetteer import load_gazetteer
from core.personal import MOBILE, id_number_problem
from ledgers.loader import LedgerSet, load_ledgers
from ledgers.values import check_record, check_values
from sim.population import AS_OF, Row, age_on, county, industry

KEY = ["狼岔坝村", "各皂坝村", "杰迪村", "土桥子村", "城马村"]
AWAY = ("县外省内务工", "省外务工")
YOUNGER = {"子", "女", "儿媳", "女婿", "孙子", "孙女"}


@pytest.fixture(scope="module")
def ledgers() -> LedgerSet:
    return load_ledgers()


@pytest.fixture(scope="module")
def full() -> list[Row]:
    started = time.perf_counter()
    rows = list(county())
    assert time.perf_counter() - started < 20
    return rows


@pytest.fixture(scope="module")
def households(full: list[Row]) -> list[Row]:
    return [r for r in full if r.ledger == "household"]


@pytest.fixture(scope="module")
def members(full: list[Row]) -> list[Row]:
    return [r for r in full if r.ledger == "member"]


@pytest.fixture(scope="module")
def families(members: list[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for m in members:
        out[m.parent or ""].append(m)
    return out


def _sample(full: list[Row]) -> list[Row]:
    """The first 2,000 households with their members, and every industry row."""
    codes = {r.code for r in full if r.ledger == "household"}
    first = sorted(codes)[:2000]
    keep = set(first)
    return [r for r in full if r.code in keep or r.parent in keep or r.ledger not in ("household", "member")]


def test_sampled_rows_pass_their_ledgers_unchanged(full: list[Row], ledgers: LedgerSet) -> None:
    gaz = load_gazetteer()
    sample = _sample(full)
    assert len(sample) > 9000
    for row in sample:
        checked = check_values(ledgers[row.ledger], row.values, today=AS_OF, gazetteer=gaz)
        check_record(ledgers[row.ledger], checked)
        assert {k: v for k, v in checked.items() if v is not None} == row.values, row.code


def test_every_row_is_marked_synthetic(full: list[Row]) -> None:
    assert all(r.values["synthetic"] is True for r in full)


def test_household_and_person_counts_are_near_the_targets(households: list[Row], members: list[Row]) -> None:
    assert len(households) == 35_000
    assert 130_000 <= len(members) <= 150_000
    assert 3.8 <= mean(h.values["size"] for h in households) <= 4.2
    assert {h.values["size"] for h in households} == set(range(1, 9))


def test_every_village_has_households_and_key_villages_are_larger(households: list[Row]) -> None:
    per_village = Counter(h.village for h in households)
    assert len(per_village) == 197
    assert min(per_village[v] for v in KEY) > sorted(per_village.values())[98]


def test_poverty_status_shares(households: list[Row]) -> None:
    status = Counter(h.values["poverty_status"] for h in households)
    assert 0.13 <= status["脱贫户"] / len(households) <= 0.17
    assert 0.02 <= status["监测户"] / len(households) <= 0.04
    assert all(("monitoring_type" in h.values) == (h.values["poverty_status"] == "监测户") for h in households)


def test_ethnicity_mix(members: list[Row]) -> None:
    share = {k: n / len(members) for k, n in Counter(m.values["ethnicity"] for m in members).items()}
    assert 0.25 <= share["藏族"] <= 0.5
    assert 0.45 <= share["汉族"] <= 0.75
    assert 0.005 <= share["回族"] <= 0.03


def test_a_quarter_of_working_age_adults_work_outside_the_county(members: list[Row]) -> None:
    adults = [m for m in members if 16 <= age_on(m.values["birth_date"]) <= 59]
    away = sum(m.values["work_status"] in AWAY for m in adults) / len(adults)
    assert 0.2 <= away <= 0.3
    assert all("work_place" in m.values for m in members if m.values["work_status"] in (*AWAY, "县内务工"))


def test_household_counts_agree_with_members(households: list[Row], families: dict[str, list[Row]]) -> None:
    for h in households:
        family = families[h.code]
        assert len(family) == h.values["size"]
        assert h.values["migrants"] == sum(m.values["work_status"] in AWAY for m in family)
        assert h.values["labourers"] >= h.values["migrants"]


def test_incomes_are_plausible(households: list[Row]) -> None:
    def per_capita(h: Row) -> float:
        parts = ("wages", "production_income", "property_income", "transfer_income")
        return (sum(float(h.values[k]) for k in parts) - float(h.values["costs"])) / h.values["size"]

    by_status = {s: mean(per_capita(h) for h in households if h.values["poverty_status"] == s)
                 for s in ("一般户", "脱贫户", "监测户")}  # fmt: skip
    assert 8_000 <= by_status["一般户"] <= 20_000
    assert by_status["监测户"] < by_status["脱贫户"] < by_status["一般户"]


def test_id_numbers_are_unique_valid_and_match_birth_and_sex(members: list[Row]) -> None:
    ids = [m.values["id_number"] for m in members]
    assert len(set(ids)) == len(ids)
    assert all(id_number_problem(i) is None for i in ids)
    assert all(i.startswith("623023") for i in ids)
    assert all(m.values["id_number"][6:14] == f"{m.values['birth_date']:%Y%m%d}" for m in members)
    assert all((int(m.values["id_number"][16]) % 2 == 1) == (m.values["sex"] == "男") for m in members)


def test_heads_are_their_households_first_member(households: list[Row], families: dict[str, list[Row]]) -> None:
    for h in households:
        head, *rest = families[h.code]
        assert head.values["relation"] == "户主"
        assert all(m.values["relation"] != "户主" for m in rest)
        assert (head.values["name"], head.values["id_number"]) == (h.values["head_name"], h.values["head_id_number"])
        assert head.values["phone"] == h.values["phone"]
        assert MOBILE.match(h.values["phone"])


def test_ages_agree_with_relations(families: dict[str, list[Row]]) -> None:
    for family in families.values():
        head = family[0].values["birth_date"]
        for m in family[1:]:
            relation, birth = m.values["relation"], m.values["birth_date"]
            assert relation not in YOUNGER or birth > head, m.code
            assert relation not in ("父亲", "母亲") or birth < head, m.code
            assert relation not in ("孙子", "孙女") or all(
                birth > p.values["birth_date"] for p in family if p.values["relation"] in ("子", "女", "儿媳", "女婿")
            ), m.code
        assert all(age_on(m.values["birth_date"]) >= 18 for m in family if m.values["relation"] in ("户主", "配偶"))


def test_houses_lie_inside_the_county_near_their_village(households: list[Row]) -> None:
    gaz = load_gazetteer()
    for h in households:
        lon, lat = h.values["house_location"]
        village = gaz.village(h.village)
        assert gaz.contains(lat, lon)
        dy, dx = (lat - village.lat) * 111.32, (lon - village.lon) * 111.32 * math.cos(math.radians(lat))
        assert math.hypot(dx, dy) <= 1.6


def test_codes_are_unique_and_members_follow_their_household(full: list[Row]) -> None:
    assert len({r.code for r in full}) == len(full)
    current = None
    for row in full:
        if row.ledger == "household":
            current = row.code
        elif row.ledger == "member":
            assert row.parent == current
        else:
            assert row.parent is None


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    first = list(county(seed=3, households=300))
    assert first == list(county(seed=3, households=300))
    assert first != list(county(seed=4, households=300))


def test_villages_restrict_households_and_industry() -> None:
    rows = list(county(households=1500, villages=KEY))
    assert sum(r.ledger == "household" for r in rows) == 1500
    assert {r.village for r in rows} == set(KEY)
    assert [r for r in rows if r.ledger not in ("household", "member")] == list(industry())
    others = list(county(households=50, villages=["得力村"]))
    assert {r.ledger for r in others} == {"household", "member"}


def test_industry_fills_every_industry_ledger_of_each_key_village(ledgers: LedgerSet) -> None:
    rows = list(industry())
    expected = set(ledgers.ledgers) - {"household", "member"}
    for village in KEY:
        assert {r.ledger for r in rows if r.village == village} == expected
    assert all("position" in r.values for r in rows if r.ledger in ("homestay", "water_works", "env_point"))

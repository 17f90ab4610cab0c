"""The default ledger declarations: they load, every map has its geo field, every ledger has statistics, and
the household and member fields later code relies on are there with the right types and personal classes."""

from __future__ import annotations

import pytest

from ledgers.loader import DEFAULT_DIR, LedgerSet, load_ledgers

LEDGERS = {"household": "HH", "member": "HM", "collective_economy": "CE", "cooperative": "CO", "homestay": "HS",
           "water_works": "WW", "featured_industry": "FI", "emergency_resource": "ER", "directory": "DR",
           "agri_service": "AS", "agri_talent": "AT", "grid": "GR", "env_point": "EP"}  # fmt: skip
# field -> (type, personal class) that the household archive, income and subsidy code read
HOUSEHOLD = {"head_name": ("text", "name"), "head_id_number": ("text", "id_number"), "phone": ("text", "phone"),
             "size": ("integer", None), "poverty_status": ("enum", None), "monitoring_type": ("enum", None),
             "house_location": ("geo", "location"), "labourers": ("integer", None), "migrants": ("integer", None),
             "wages": ("decimal", "income"), "production_income": ("decimal", "income"),
             "property_income": ("decimal", "income"), "transfer_income": ("decimal", "income"),
             "costs": ("decimal", "income"), "cooperative": ("ref", None), "synthetic": ("bool", None)}  # fmt: skip
MEMBER = {"name": ("text", "name"), "id_number": ("text", "id_number"), "relation": ("enum", None),
          "sex": ("enum", None), "birth_date": ("date", None), "health": ("enum", "health"),
          "labour_capacity": ("enum", None), "work_status": ("enum", None), "phone": ("text", "phone"),
          "synthetic": ("bool", None)}  # fmt: skip


@pytest.fixture(scope="module")
def ledgers() -> LedgerSet:
    return load_ledgers()


def test_the_default_directory_loads_every_ledger(ledgers: LedgerSet) -> None:
    assert ledgers.directory == DEFAULT_DIR
    assert {k: lg.prefix for k, lg in ledgers.ledgers.items()} == LEDGERS


def test_each_file_is_named_after_its_ledger(ledgers: LedgerSet) -> None:
    assert sorted(p.stem for p in DEFAULT_DIR.glob("*.yaml")) == sorted(ledgers.ledgers)


def test_every_ledger_has_statistics(ledgers: LedgerSet) -> None:
    assert all(lg.stats for lg in ledgers.ledgers.values())


def test_every_map_layer_names_a_plain_geo_field(ledgers: LedgerSet) -> None:
    for lg in ledgers.ledgers.values():
        if lg.map is not None:
            assert lg.field(lg.map.field).type == "geo"
            assert lg.field(lg.map.field).personal is None


def test_every_plain_position_is_on_the_map(ledgers: LedgerSet) -> None:
    for lg in ledgers.ledgers.values():
        plain_geo = [f.key for f in lg.fields if f.type == "geo" and f.personal is None]
        assert (lg.map is not None) == bool(plain_geo), lg.ledger


def test_list_pages_show_four_to_seven_columns(ledgers: LedgerSet) -> None:
    for lg in ledgers.ledgers.values():
        assert 4 <= sum(f.column for f in lg.fields) <= 7, lg.ledger


def test_every_field_has_a_chinese_label(ledgers: LedgerSet) -> None:
    for lg in ledgers.ledgers.values():
        assert all(any("\u4e00" <= c <= "\u9fff" for c in f.label) for f in lg.fields), lg.ledger


def test_id_numbers_and_phones_are_sealed_checked_and_looked_up(ledgers: LedgerSet) -> None:
    for lg in ledgers.ledgers.values():
        for f in lg.fields:
            if f.personal in ("id_number", "phone"):
                assert f.lookup, f"{lg.ledger}.{f.key}"
                assert f.format == f.personal, f"{lg.ledger}.{f.key}"


def test_household_fields_later_code_reads(ledgers: LedgerSet) -> None:
    household = ledgers["household"]
    assert {k: (household.field(k).type, household.field(k).personal) for k in HOUSEHOLD} == HOUSEHOLD
    assert household.field("poverty_status").options == ["一般户", "脱贫户", "监测户"]
    assert household.field("cooperative").ledger == "cooperative"
    assert household.field("head_id_number").required


def test_member_fields_later_code_reads(ledgers: LedgerSet) -> None:
    member = ledgers["member"]
    assert member.parent == "household"
    assert {k: (member.field(k).type, member.field(k).personal) for k in MEMBER} == MEMBER
    assert member.field("relation").options[0] == "户主"
    assert member.field("id_number").required
    assert member.field("birth_date").not_future


def test_every_ledger_can_mark_demo_rows(ledgers: LedgerSet) -> None:
    assert all(lg.field("synthetic").type == "bool" for lg in ledgers.ledgers.values())

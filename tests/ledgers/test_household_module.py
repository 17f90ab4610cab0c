"""The household module's income card: K = four incomes, R = costs, S = K − R, T = S / size, each explained."""

from __future__ import annotations

from decimal import Decimal

from ledgers.extra.household import income_card


def test_the_income_card_follows_the_county_template() -> None:
    values = {"size": 4, "wages": Decimal("24000"), "production_income": Decimal("9000.50"), "property_income": None,
              "transfer_income": Decimal("3600"), "costs": Decimal("4000")}  # fmt: skip
    card = income_card(values)
    assert card is not None
    assert card.total == Decimal("36600.50")
    assert card.net == Decimal("32600.50")
    assert card.per_capita == Decimal("8150.13")
    assert card.explain()[2] == "家庭纯收入 S = K − R = 32,600.50 元"
    assert card.explain()[3] == "人均纯收入 T = S ÷ 家庭人口 4 = 8,150.13 元"


def test_no_card_without_a_size_or_any_income() -> None:
    assert income_card({"size": 3}) is None
    assert income_card({"wages": Decimal(1)}) is None

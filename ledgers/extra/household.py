"""The household archive's own module: the income card (收入明白卡) and the checks a declaration can't state."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

INCOME_TYPES = (("wages", "工资性收入"), ("production_income", "生产经营性收入"), ("property_income", "财产性收入"),
                ("transfer_income", "转移性收入"))  # fmt: skip


@dataclass(frozen=True)
class IncomeCard:
    """K = the four incomes, R = production costs, S = K − R, T = S / household size; each term explains itself."""

    parts: dict[str, Decimal]  # label -> amount (元)
    total: Decimal  # K
    costs: Decimal  # R
    net: Decimal  # S
    size: int
    per_capita: Decimal  # T

    def explain(self) -> list[str]:
        """The card's lines in Chinese, each figure with how it was made."""
        k = " + ".join(f"{label} {amount:,.2f}" for label, amount in self.parts.items())
        return [f"家庭总收入 K = {k} = {self.total:,.2f} 元",
                f"生产经营费用 R = {self.costs:,.2f} 元",
                f"家庭纯收入 S = K − R = {self.net:,.2f} 元",
                f"人均纯收入 T = S ÷ 家庭人口 {self.size} = {self.per_capita:,.2f} 元"]  # fmt: skip


def income_card(values: dict[str, Any]) -> IncomeCard | None:
    """The household's income card from its (unmasked) values; None when the size or every income is missing."""
    size = values.get("size")
    amounts = {label: values.get(key) for key, label in INCOME_TYPES}
    if not isinstance(size, int) or size < 1 or all(v is None for v in amounts.values()):
        return None
    parts = {label: Decimal(v or 0) for label, v in amounts.items()}
    total = sum(parts.values(), Decimal(0))
    costs = Decimal(values.get("costs") or 0)
    net = total - costs
    return IncomeCard(parts, total, costs, net, size, (net / size).quantize(Decimal("0.01"), ROUND_HALF_UP))


def validate(values: dict[str, Any]) -> dict[str, str]:
    """Checks across fields that the declaration can't state: field key -> Chinese reason."""
    problems = {}
    if values.get("poverty_status") != "监测户" and values.get("monitoring_type"):
        problems["monitoring_type"] = "只有监测户填写监测类型"
    return problems

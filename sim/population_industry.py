"""The synthetic industry, emergency, service and organisation ledgers of one key village (for sim.population).

Fictitious like everything in the synthetic county: made-up names, codes, phones and amounts; each row carries
`synthetic: True`. Amounts are demo assumptions in plausible ranges, not figures of any real village."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from core.gazetteer import Gazetteer, Village
from sim import population_names as names
from sim.population_names import money

FACILITY_KM = 1.0  # facilities stand within this distance of the village centre
# product -> (scale unit, scale range, kg per unit, yuan per kg) of a village's featured industry
_PRODUCTS = {"羊肚菌": ("亩", (20, 300), (100, 200), (80, 150)), "花椒": ("亩", (200, 3000), (30, 60), (60, 100)),
             "黑土猪": ("头", (100, 1500), (90, 120), (28, 40)), "从岭藏鸡": ("羽", (1000, 20000), (1.5, 2), (50, 70)),
             "中华蜂": ("箱", (100, 1500), (5, 10), (100, 160)), "中药材": ("亩", (100, 2000), (150, 300), (15, 30)),
             "核桃": ("亩", (100, 1500), (50, 150), (15, 25))}  # fmt: skip
_HERBS = ("党参", "当归", "羌活", "黄芪")
Values = dict[str, Any]


def industry_rows(rng: random.Random, gaz: Gazetteer, village: Village, as_of: date) -> Iterator[tuple[str, Values]]:
    """Every industry-side row of one village as (ledger key, values), in ledger order."""

    def where() -> tuple[float, float]:
        return names.near(rng, gaz, village.lat, village.lon, FACILITY_KM)

    def person() -> tuple[str, str]:
        sex = rng.choice("男男女")
        return names.person_name(rng, sex, rng.randint(28, 60), rng.choice(("汉族", "藏族"))), names.mobile(rng)

    def recent(days: int) -> date:
        return as_of - timedelta(days=rng.randrange(days))

    stem = names.stem(village.name)
    products = rng.sample(list(_PRODUCTS), rng.randint(4, 6))
    for title, kind in rng.sample(names.COLLECTIVE_PROJECTS, 3):
        assets = rng.uniform(20, 300)
        for year in (2023, 2024):
            income = assets * rng.uniform(0.04, 0.12)
            yield "collective_economy", _row(project=f"{stem}{title}", project_type=kind, year=year,
                                             assets=money(assets), annual_income=money(income),
                                             dividend_households=rng.randint(50, 300),
                                             dividend_total=money(income * rng.uniform(0.3, 0.6)))  # fmt: skip
    for product in products[:3]:
        members = rng.randint(8, 120)
        who, phone = person()
        yield "cooperative", _row(name=f"舟曲县{stem}{names.COOP_KINDS[product]}专业合作社",
                                  credit_code=names.credit_code(rng, "93"), legal_person=who, phone=phone,
                                  main_product=product, members=members,
                                  lifted_members=rng.randint(0, members // 2),
                                  registered_capital=money(rng.uniform(10, 500)),
                                  registered_on=date(rng.randint(2012, 2024), rng.randint(1, 12), rng.randint(1, 28)),
                                  demonstration_level=rng.choices(("省级", "市级", "县级", "无"), (5, 15, 40, 40))[0],
                                  position=where())  # fmt: skip
    for label in rng.sample(names.HOMESTAY_NAMES, rng.randint(4, 7)):
        rooms, kind = rng.randint(3, 16), rng.choice(("民宿", "民宿", "农家乐"))
        who, phone = person()
        yield "homestay", _row(name=f"{stem}{label}{kind}", kind=kind, operator=who, phone=phone, rooms=rooms,
                               beds=rng.randint(rooms, 2 * rooms), price=money(rng.randint(8, 38) * 10, 0),
                               rating=rng.choices(("甲级", "乙级", "丙级", "未评定"), (5, 20, 30, 45))[0],
                               license_no=names.credit_code(rng, "92"),
                               opened_on=date(rng.randint(2015, 2024), rng.randint(1, 12), rng.randint(1, 28)),
                               fire_safety=rng.random() < 0.9, annual_guests=rng.randint(300, 6000),
                               annual_revenue=money(rng.uniform(5, 120)), position=where())  # fmt: skip
    for n, (label, kind) in enumerate(((f"{village.name}集中供水工程", "集中供水工程"),
                                       (f"{village.name}高山组供水点", "小型集中供水工程"))):  # fmt: skip
        households = rng.randint(40, 400) // (n + 1)
        quality = rng.choices(("合格", "不合格", "未检测"), (90, 3, 7))[0]
        who, phone = person()
        yield "water_works", _row(name=label, works_type=kind, source=rng.choice(("山泉水", "地下水", "河溪水")),
                                  capacity=money(households * rng.uniform(0.3, 0.6), 1), households_served=households,
                                  persons_served=round(households * rng.uniform(3.5, 4.3)),
                                  built_year=rng.randint(2008, 2022), disinfection=rng.random() < 0.8,
                                  water_quality=quality, tested_on=recent(180) if quality != "未检测" else None,
                                  status=rng.choices(("正常", "维修中"), (92, 8))[0], manager=who,
                                  manager_phone=phone, position=where())  # fmt: skip
    for product in products:
        unit, scale_range, kg_per_unit, price = _PRODUCTS[product]
        scale = rng.uniform(*scale_range)
        for year in (2024, 2025):
            scale *= rng.uniform(0.95, 1.15)
            output = scale * rng.uniform(*kg_per_unit)
            yield "featured_industry", _row(
                product=product, variety=rng.choice(_HERBS) if product == "中药材" else "大红袍" if product == "花椒"
                else None, subject_type=rng.choice(("农户", "合作社", "村集体")),
                activity=rng.choices(("新建", "提质增效", "存量"), (15, 25, 60))[0], scale=money(scale, 1),
                scale_unit=unit, output=money(output, 1), output_value=money(output * rng.uniform(*price) / 10_000),
                year=year)  # fmt: skip
    emergency = [("物资仓库", f"{village.name}应急物资储备点", rng.randint(200, 1500), "件", "综合"),
                 ("避难场所", f"{village.name}村委会广场应急避难场所", rng.randint(200, 1200), "人", "地质灾害"),
                 ("救援队伍", f"{village.name}民兵应急救援队", rng.randint(12, 40), "人", "综合"),
                 ("应急装备", f"{village.name}抽水泵和发电机", rng.randint(2, 10), "台", "洪涝"),
                 ("医疗点", f"{village.name}卫生室", 1, "个", "综合")]  # fmt: skip
    for kind, label, quantity, unit, hazard in emergency:
        who, phone = person()
        yield "emergency_resource", _row(resource_type=kind, name=label, hazard=hazard, quantity=quantity, unit=unit,
                                         keeper=who, phone=phone, checked_on=recent(120), position=where(),
                                         status=rng.choices(("完好", "需维护"), (90, 10))[0])  # fmt: skip
    points = [("垃圾收集点", f"{village.name}{g}组垃圾收集点", 8, "立方米") for g in range(1, rng.randint(3, 5))]
    points += [("公共厕所", f"{village.name}公共厕所", 6, "蹲位"),
               ("污水处理设施", f"{village.name}污水处理站", 50, "吨/日"),
               ("河道沟渠", f"{village.name}村前沟渠", 0, "")]  # fmt: skip
    for kind, label, capacity, unit in points:
        who, phone = person()
        yield "env_point", _row(point_type=kind, name=label, capacity=money(capacity * rng.uniform(0.5, 1.5), 1)
                                if capacity else None, capacity_unit=unit or None,
                                status=rng.choices(("正常", "满溢", "损坏"), (85, 10, 5))[0],
                                cleaning=rng.choice(("每日", "每周两次", "每周")), cleaned_on=recent(14),
                                keeper=who, phone=phone, position=where())  # fmt: skip
    for g in range(1, rng.randint(4, 6)):
        who, phone = person()
        households = rng.randint(40, 120)
        yield "grid", _row(grid_name=f"{village.name}第{g}网格", grid_level="组级网格", officer=who, phone=phone,
                           households=households, persons=round(households * rng.uniform(3.6, 4.4)),
                           area=f"{2 * g - 1}组、{2 * g}组")  # fmt: skip
    committee, task_force = f"{village.name}村民委员会", "舟曲县驻村帮扶工作队"
    posts = [("村党支部书记", f"{village.name}党支部", "村两委"), ("村委会主任", committee, "村两委"),
             ("村委会副主任", committee, "村两委"), ("村文书", committee, "村两委"),
             ("驻村第一书记", task_force, "驻村工作队"), ("驻村工作队员", task_force, "驻村工作队"),
             ("包村干部", f"{village.township}人民政府", "乡镇干部"), ("网格员", committee, "网格员"),
             ("村医", f"{village.name}卫生室", "医疗卫生"),
             ("应急救援队长", f"{village.name}民兵应急救援队", "应急救援")]  # fmt: skip
    for post, organization, category in posts:
        who, phone = person()
        yield "directory", _row(name=who, post=post, organization=organization, category=category, phone=phone,
                                office_phone=f"0941-5{rng.randrange(10**6):06d}" if category == "村两委" else None,
                                on_duty=category in ("村两委", "驻村工作队", "应急救援"))  # fmt: skip
    for kind in rng.sample(("种子", "化肥", "农药", "农机", "饲料兽药", "综合"), 2):
        who, phone = person()
        licensed = kind in ("种子", "农药", "综合")
        yield "agri_service", _row(name=f"{stem}{kind}服务部", service_type=kind, contact=who, phone=phone,
                                   address=f"{village.township}{village.name}{rng.randint(1, 6)}组",
                                   licensed=licensed, license_no=f"623023{rng.randrange(10**6):06d}" if licensed
                                   else None, position=where())  # fmt: skip
    talents = [
        ("食用菌", "中级", rng.choice(names.TALENT_EMPLOYERS)),
        (rng.choice(("养蜂", "畜牧养殖", "花椒", "中药材")), "乡土人才", village.name),
    ]
    for specialty, title, employer in talents:
        sex = rng.choice("男女")
        yield "agri_talent", _row(name=names.person_name(rng, sex, rng.randint(30, 58), "汉族"), sex=sex,
                                  specialty=specialty, title=title, employer=employer,
                                  experience_years=rng.randint(3, 30), phone=names.mobile(rng),
                                  serving_villages=f"{village.name}、{village.township}其他村",
                                  service_township=village.township)  # fmt: skip


def _row(**values: Any) -> Values:
    """The given values without the empty ones, marked synthetic."""
    return {**{k: v for k, v in values.items() if v is not None}, "synthetic": True}

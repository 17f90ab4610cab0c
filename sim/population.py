"""A synthetic county for demos and load tests: households (户情档案) and their members over the gazetteer's
villages, then the industry, emergency and organisation ledgers of the key villages.

EVERYTHING HERE IS FICTITIOUS. Names come from made-up pools (sim.population_names), ID numbers are well formed
(623023, birth date, sequence with sex parity, GB 11643 check digit) but belong to no one, phones are random
mobiles, and every row carries `synthetic: True` (the 演示数据 field every default ledger declares), so demo data
can always be told apart from, and purged out of, real records. Shares and ranges are demo assumptions.

Generation is deterministic: the same seed and arguments give the same rows in every process and on every day
(ages and dates count from AS_OF, not from today). Ref fields stay empty: rows know each other only by `code`."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from core.gazetteer import Gazetteer, Village, load_gazetteer
from core.personal import id_check_digit
from sim import population_names as names
from sim.population_industry import industry_rows

AS_OF = date(2025, 6, 30)  # the survey date ages and dates are counted from
AREA_CODE = "623023"  # 舟曲县
KEY_WEIGHT = 1.8  # key villages are this much larger than an average village
HOUSE_JITTER_KM = 1.5
_SIZES = {1: 0.07, 2: 0.13, 3: 0.19, 4: 0.24, 5: 0.19, 6: 0.11, 7: 0.05, 8: 0.02}  # mean ≈ 4
# demo assumption: the share of 藏族 households per township (upland townships more, the river valley less)
_TIBETAN = {"博峪镇": 0.65, "插岗乡": 0.65, "拱坝镇": 0.65, "曲告纳镇": 0.65, "八楞乡": 0.65, "憨班镇": 0.65,
            "武坪镇": 0.65, "立节镇": 0.35, "曲瓦乡": 0.35, "江盘镇": 0.35, "果耶镇": 0.35, "坪定镇": 0.35,
            "南峪乡": 0.35}  # fmt: skip
_HUI = {"城关镇": 0.06, "峰迭镇": 0.03, "大川镇": 0.03}
_INDUSTRIES = ("羊肚菌", "花椒", "黑土猪", "从岭藏鸡", "中华蜂", "中药材", "核桃", "其他种植", "其他养殖")
_CHILD = {"子", "女", "儿媳", "女婿", "孙子", "孙女"}
# the code prefix of the rows of each industry-side ledger (households are H…, members M…)
_CODES = {"collective_economy": "CE", "cooperative": "CO", "homestay": "HS", "water_works": "WW",
          "featured_industry": "FI", "emergency_resource": "ER", "env_point": "EP", "grid": "GR", "directory": "DR",
          "agri_service": "AS", "agri_talent": "AT"}  # fmt: skip
_WORKING = ("普通劳动力", "技能劳动力", "弱劳动力或半劳动力")


@dataclass(frozen=True)
class Row:
    """One generated record: its ledger, its own code, its village and its typed values."""

    ledger: str  # ledger key
    code: str  # the row's own stable id within the generated set (e.g. "H000123"), used by children
    village: str
    township: str
    values: dict[str, Any]  # field key -> typed value as ledgers.values.check_values returns it (unset: left out)
    parent: str | None = None  # the parent row's code (members -> their household)


@dataclass
class _Person:
    relation: str
    sex: str
    age: int


class _Unique:
    """ID numbers and mobiles handed out once per generated county."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.phones: set[str] = set()

    def id_number(self, rng: random.Random, birth: date, male: bool) -> str:
        """A unique ID number: area, birth date, a sequence odd for men and even for women, check digit."""
        while True:
            seq = 2 * rng.randrange(1, 500) - (1 if male else 0)
            first17 = f"{AREA_CODE}{birth:%Y%m%d}{seq:03d}"
            if first17 not in self.ids:
                self.ids.add(first17)
                return first17 + id_check_digit(first17)

    def phone(self, rng: random.Random) -> str:
        """A mobile number not yet given to anyone in this county."""
        while (number := names.mobile(rng)) in self.phones:
            pass
        self.phones.add(number)
        return number


def county(seed: int = 0, households: int = 35_000, villages: list[str] | None = None) -> Iterator[Row]:
    """Households with their members right after each, then the industry rows of the key villages."""
    gaz = load_gazetteer()
    chosen = [gaz.village(n) for n in villages] if villages is not None else list(gaz.villages)
    unique = _Unique()
    n_house = n_member = 0
    for village, count in zip(chosen, _allocate(chosen, households, seed), strict=True):
        rng = random.Random(f"{seed}:households:{village.township}:{village.name}")
        profile = _profile(rng, village)
        groups = max(1, round(count / 30))
        for i in range(count):
            n_house += 1
            code = f"H{n_house:06d}"
            house, members = _household(rng, gaz, village, unique, profile, 1 + i * groups // max(count, 1))
            yield Row("household", code, village.name, village.township, house)
            for values in members:
                n_member += 1
                yield Row("member", f"M{n_member:07d}", village.name, village.township, values, parent=code)
    picked = {v.name for v in chosen}
    yield from (row for row in industry(seed) if row.village in picked)


def industry(seed: int = 0) -> Iterator[Row]:
    """The industry, emergency, service and organisation rows of the five key villages."""
    gaz = load_gazetteer()
    serial: dict[str, int] = {}
    for village in (v for v in gaz.villages if "key" in v.roles):
        rng = random.Random(f"{seed}:industry:{village.township}:{village.name}")
        for ledger, values in industry_rows(rng, gaz, village, AS_OF):
            serial[ledger] = serial.get(ledger, 0) + 1
            code = f"{_CODES[ledger]}{serial[ledger]:05d}"
            yield Row(ledger, code, village.name, village.township, values)


def born(rng: random.Random, age: int) -> date:
    """A birth date at which someone is `age` full years old on AS_OF."""
    latest = AS_OF.replace(year=AS_OF.year - age)
    earliest = AS_OF.replace(year=AS_OF.year - age - 1) + timedelta(days=1)
    return earliest + timedelta(days=rng.randrange((latest - earliest).days + 1))


def age_on(birth: date) -> int:
    """Full years of age on AS_OF."""
    return AS_OF.year - birth.year - ((AS_OF.month, AS_OF.day) < (birth.month, birth.day))


def _allocate(chosen: list[Village], total: int, seed: int) -> list[int]:
    """Households per village: weights (key villages larger), largest remainders so they add up to total."""
    weights = [random.Random(f"{seed}:weight:{v.township}:{v.name}").uniform(0.6, 1.4) * (KEY_WEIGHT if "key" in v.roles
               else 1.0) for v in chosen]  # fmt: skip
    shares = [total * w / sum(weights) for w in weights] if chosen else []
    counts = [int(s) for s in shares]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _profile(rng: random.Random, village: Village) -> dict[str, Any]:
    """A village's make-up: its ethnic shares and its two or three main industries."""
    tibetan = min(0.95, _TIBETAN.get(village.township, 0.1) * rng.uniform(0.7, 1.3))
    return {"tibetan": tibetan, "hui": _HUI.get(village.township, 0.005), "industries": rng.sample(_INDUSTRIES, 3)}


def _family(rng: random.Random, size: int) -> list[_Person]:
    """Relations, sexes and ages of a household: head, spouse, the head's parents, children, grandchildren."""
    head_age = rng.randint(58, 88) if size == 1 and rng.random() < 0.7 else int(rng.triangular(26, 82, 48))
    head = _Person("户主", "男" if rng.random() < 0.86 else "女", head_age)
    people, left = [head], size - 1
    other = "女" if head.sex == "男" else "男"
    if left and rng.random() < 0.9:
        gap = rng.randint(0, 5)
        people.append(_Person("配偶", other, max(20, head_age - gap if head.sex == "男" else head_age + gap)))
        left -= 1
    youngest = min(p.age for p in people)
    if left >= 2 and head_age + 22 <= 92 and head_age <= 55 and rng.random() < 0.45:
        father = min(95, head_age + rng.randint(22, 32))
        pair = [_Person("父亲", "男", father), _Person("母亲", "女", max(head_age + 20, father - rng.randint(0, 4)))]
        rng.shuffle(pair)
        people += pair[: 1 if left == 2 or rng.random() < 0.4 else 2]
        left = size - len(people)
    if left >= 3 and youngest >= 46 and rng.random() < 0.6:
        uxorilocal = rng.random() < 0.15  # a daughter with a live-in son-in-law (上门女婿)
        child_age = rng.randint(24, youngest - 20)
        in_law = max(20, child_age + rng.randint(-4, 4))
        people += [_Person("女", "女", child_age), _Person("女婿", "男", in_law)] if uxorilocal else [
            _Person("子", "男", child_age), _Person("儿媳", "女", in_law)]  # fmt: skip
        top = max(0, min(child_age, in_law) - 20)
        while len(people) < size:
            sex = rng.choice("男女")
            people.append(_Person("孙子" if sex == "男" else "孙女", sex, rng.randint(0, top)))
    while len(people) < size:
        sex = rng.choice("男女")
        people.append(_Person("子" if sex == "男" else "女", sex, rng.randint(max(0, youngest - 42), youngest - 20)))
    return people


def _household(rng: random.Random, gaz: Gazetteer, village: Village, unique: _Unique, profile: dict[str, Any],
               group: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """One household's values and its members' values."""
    size = rng.choices(list(_SIZES), weights=list(_SIZES.values()))[0]
    r = rng.random()
    status = "监测户" if r < 0.03 else "脱贫户" if r < 0.18 else "一般户"
    dibao = rng.random() < {"一般户": 0.03, "脱贫户": 0.25, "监测户": 0.45}[status]
    e = rng.random()
    ethnicity = "回族" if e < profile["hui"] else "藏族" if e < profile["hui"] + profile["tibetan"] else "汉族"
    people = _family(rng, size)
    surname = rng.choice(names.HUI_SURNAMES if ethnicity == "回族" else names.SURNAMES)
    members = [_member(rng, p, ethnicity, surname, status, dibao, unique, i == 0) for i, p in enumerate(people)]
    head = members[0]
    labourers = sum(m["labour_capacity"] in _WORKING for m in members)
    migrants = sum(m["work_status"] in ("县外省内务工", "省外务工") for m in members)
    year = _year_built(rng)
    industry = rng.choice(profile["industries"]) if rng.random() < 0.75 else rng.choice((*_INDUSTRIES, "无"))
    farmland = round(size * rng.uniform(0.6, 2.2), 1)
    production = farmland * rng.uniform(300, 800) + _industry_income(rng, industry) * (1 if labourers else 0.4)
    wages = sum(_wage(rng, m) for m in members)
    factor = {"一般户": 1.0, "脱贫户": 0.8, "监测户": 0.5}[status]
    transfers = rng.uniform(200, 1500) + (rng.uniform(300, 1500) if status != "一般户" else 0)
    for p, m in zip(people, members, strict=True):
        transfers += rng.uniform(1400, 2600) if p.age >= 60 else 0
        transfers += rng.uniform(3600, 5400) if dibao else 0
        transfers += rng.uniform(1000, 2000) if m["health"] == "残疾" else 0
    house: dict[str, Any] = {
        "head_name": head["name"], "head_id_number": head["id_number"], "phone": head["phone"],
        "village_group": f"{group}组", "address": f"{village.township}{village.name}{group}组{rng.randint(1, 80)}号",
        "size": size, "poverty_status": status, "dibao": dibao,
        "housing_area": names.money(rng.uniform(60, 110) + size * rng.uniform(10, 25), 1),
        "structure": _structure(rng, year), "year_built": year,
        "housing_safety": rng.choices(("A级", "B级", "C级"), (85, 15, 0) if year >= 2010 else (35, 62, 3))[0],
        "electricity": rng.choices(("国家电网", "光伏", "小水电"), (98, 1, 1))[0],
        "fuel": rng.choices(("柴草", "电", "煤", "液化气", "沼气"), (40, 32, 12, 12, 4))[0],
        "water_source": rng.choices(("集中供水入户", "集中供水未入户", "泉水井水"), (90, 6, 4))[0],
        "farmland": names.money(farmland, 1), "industry": industry,
        "house_location": names.near(rng, gaz, village.lat, village.lon, HOUSE_JITTER_KM),
        "labourers": labourers, "migrants": migrants,
        "wages": names.money(round(wages * factor)),
        "production_income": names.money(round(production * factor)),
        "property_income": names.money(0 if rng.random() < 0.45 else round(rng.uniform(200, 2500))),
        "transfer_income": names.money(round(transfers)),
        "surveyed_on": AS_OF - timedelta(days=rng.randrange(540)), "synthetic": True,
    }  # fmt: skip
    house["costs"] = names.money(round(float(house["production_income"]) * rng.uniform(0.2, 0.45)))
    if status == "监测户":
        house["monitoring_type"] = rng.choices(("脱贫不稳定户", "边缘易致贫户", "突发严重困难户"), (45, 40, 15))[0]
    if status == "监测户" or (status == "脱贫户" and rng.random() < 0.4):
        house["risk_type"] = rng.choice(("因病", "因病", "因残", "因学", "因灾", "缺劳动力", "缺技术", "务工就业不稳"))
    return {k: v for k, v in house.items() if v is not None}, members


def _member(rng: random.Random, p: _Person, ethnicity: str, surname: str, status: str, dibao: bool,
            unique: _Unique, is_head: bool) -> dict[str, Any]:  # fmt: skip
    """One member's values from relation, sex and age; education, health, labour and work follow from age."""
    if p.relation in ("配偶", "儿媳", "女婿", "母亲") and rng.random() < 0.15:
        ethnicity = rng.choice(("汉族", "藏族"))
    blood = p.relation not in ("配偶", "儿媳", "女婿", "母亲") and not (p.relation == "户主" and p.sex == "女")
    birth = born(rng, p.age)
    health = _health(rng, p.age)
    student = (6 <= p.age <= 17 and (p.age < 16 or rng.random() < 0.85)) or (18 <= p.age <= 22 and rng.random() < 0.3)
    capacity = _capacity(rng, p.age, health, student)
    work, place, months = _work(rng, p, capacity, student, status)
    phone = unique.phone(rng) if is_head or (p.age >= 18 and rng.random() < (0.8 if p.age < 60 else 0.4)) else None
    values: dict[str, Any] = {
        "name": names.person_name(rng, p.sex, p.age, ethnicity, surname if blood else None),
        "id_number": unique.id_number(rng, birth, p.sex == "男"), "relation": p.relation, "sex": p.sex,
        "birth_date": birth, "ethnicity": ethnicity, "education": _education(rng, p.age, student),
        "health": health, "labour_capacity": capacity, "work_status": work, "work_place": place,
        "work_months": months, "dibao": dibao, "medical_insurance": rng.random() < 0.97,
        "pension_insurance": p.age >= 16 and not student and rng.random() < (0.95 if p.age >= 60 else 0.85),
        "phone": phone, "synthetic": True,
    }  # fmt: skip
    return {k: v for k, v in values.items() if v is not None}


def _health(rng: random.Random, age: int) -> str:
    weights = (95, 2, 1, 2) if age < 40 else (82, 12, 2, 4) if age < 60 else (55, 35, 4, 6)
    return rng.choices(("健康", "长期慢性病", "患有大病", "残疾"), weights)[0]


def _capacity(rng: random.Random, age: int, health: str, student: bool) -> str:
    if age < 16 or student or age >= 75:
        return "无劳动力"
    if age >= 65:
        return "弱劳动力或半劳动力" if health == "健康" and rng.random() < 0.7 else "无劳动力"
    if health in ("残疾", "患有大病"):
        return "丧失劳动力" if rng.random() < (0.6 if health == "残疾" else 0.4) else "弱劳动力或半劳动力"
    if health == "长期慢性病" and rng.random() < 0.5:
        return "弱劳动力或半劳动力"
    return "技能劳动力" if rng.random() < (0.2 if age < 45 else 0.08) else "普通劳动力"


def _work(rng: random.Random, p: _Person, capacity: str, student: bool, status: str) -> tuple[str, str | None,
                                                                                            int | None]:  # fmt: skip
    """Work status, place and months worked in the last 12 months."""
    if student:
        return "在校学生", None, None
    if capacity not in _WORKING:
        return ("在家务农" if p.age < 70 and capacity == "丧失劳动力" and rng.random() < 0.2 else "其他"), None, None
    away = (0.37 if p.sex == "男" else 0.21) * (0.5 if status == "监测户" else 1.0)
    away *= 0.3 if capacity == "弱劳动力或半劳动力" or p.age >= 60 else 1.0
    r = rng.random()
    if r < away:
        if rng.random() < 0.6:
            return "省外务工", rng.choice(names.OUTSIDE_PROVINCE), rng.randint(6, 12)
        return "县外省内务工", rng.choice(names.INSIDE_PROVINCE), rng.randint(4, 12)
    if r < away + 0.16:
        return "县内务工", "甘肃省舟曲县", rng.randint(3, 12)
    return ("在家务农" if rng.random() < 0.85 else "其他"), None, None


def _wage(rng: random.Random, m: dict[str, Any]) -> float:
    """A member's wages over the last 12 months, by where they work."""
    monthly = {"省外务工": (4000, 6500), "县外省内务工": (3000, 4800), "县内务工": (2200, 3800)}.get(m["work_status"])
    if monthly:
        return float(m["work_months"]) * rng.uniform(*monthly)
    return rng.uniform(1000, 6000) if m["work_status"] == "在家务农" and rng.random() < 0.25 else 0.0


def _industry_income(rng: random.Random, industry: str) -> float:
    """Gross yearly income of a household's main industry (amount times income per unit)."""
    scale, per_unit = {"羊肚菌": ((0.3, 2), (6000, 12000)), "花椒": ((1, 5), (1500, 3000)),
                       "黑土猪": ((2, 8), (1800, 2600)), "从岭藏鸡": ((20, 150), (60, 100)),
                       "中华蜂": ((3, 20), (300, 800)), "中药材": ((1, 4), (2500, 4500)),
                       "核桃": ((1, 4), (500, 1000)), "其他种植": ((1, 3), (800, 1600)),
                       "其他养殖": ((1, 4), (1500, 2500))}.get(industry, ((0, 0), (0, 0)))  # fmt: skip
    return rng.uniform(*scale) * rng.uniform(*per_unit)


def _year_built(rng: random.Random) -> int:
    """Build years: old timber houses, the 1990s-2000s, the 2010-2014 rebuilding, recent houses."""
    span = rng.choices(((1965, 1989), (1990, 2009), (2010, 2014), (2015, 2024)), (15, 25, 30, 30))[0]
    return rng.randint(*span)


def _structure(rng: random.Random, year: int) -> str:
    if year < 1990:
        return rng.choices(("土木", "砖木", "木结构"), (60, 30, 10))[0]
    if year < 2010:
        return rng.choices(("砖木", "砖混", "土木"), (40, 40, 20))[0]
    return rng.choices(("砖混", "框架", "砖木"), (70, 25, 5))[0]


def _education(rng: random.Random, age: int, student: bool) -> str:
    if age < 6:
        return "学龄前"
    if age <= 11:
        return "小学"
    if age <= 14:
        return "初中"
    if student:
        return rng.choice(("高中", "高中", "高中", "中专或中职")) if age <= 17 else rng.choice(("大专", "本科及以上"))
    levels = ("文盲或半文盲", "小学", "初中", "高中", "中专或中职", "大专", "本科及以上")
    weights = ((0, 5, 50, 20, 10, 10, 5) if age < 23 else (3, 15, 45, 15, 8, 8, 6) if age < 41
               else (15, 35, 35, 10, 2, 2, 1) if age < 61 else (45, 40, 12, 3, 0, 0, 0))  # fmt: skip
    return rng.choices(levels, weights)[0]

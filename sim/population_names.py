"""Pools and draws for the synthetic county (sim.population): made-up names, mobiles, codes, places, amounts.

Every name drawn from here is a combination of common characters, not a person on any register; a match with a
real person is chance. Shares and ranges are demo assumptions, not census figures."""

from __future__ import annotations

import math
import random
from decimal import Decimal

from core.gazetteer import Gazetteer

SURNAMES = "杨张王李赵刘陈马何安雷苏魏石包杜朱郭罗梁宋唐韩冯董程曹袁邓许傅沈曾彭吕苗蒲闫"
HUI_SURNAMES = "马丁穆沙哈白海"
GIVEN_MALE = "军明强伟建国平林成海福生文德永华斌刚虎龙辉杰涛宝忠贵全祥荣东红兴"
GIVEN_FEMALE = "秀兰英芳梅花玉红霞丽琴燕娟桂莲珍凤香春菊萍翠彩霞艳"
MODERN_MALE = ("浩然", "子轩", "宇航", "梓涵", "俊杰", "博文", "晨阳", "一鸣", "嘉豪", "思远", "泽宇", "天佑")
MODERN_FEMALE = ("欣怡", "子涵", "雨桐", "诗琪", "佳怡", "梦瑶", "思雨", "若汐", "可馨", "语嫣", "雅静", "一诺")
TIBETAN_MALE = ("扎西", "才让", "多杰", "旦增", "尼玛", "贡布", "索南", "洛桑", "次仁", "桑杰", "加措", "丹珠")
TIBETAN_FEMALE = ("卓玛", "拉姆", "央金", "措吉", "德吉", "卓嘎", "白玛", "曲珍", "吉毛", "才草", "拉毛", "仁青草")
# China Mobile, Unicom and Telecom mobile prefixes (all valid mainland mobile numbers)
MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159",
                   "178", "182", "183", "187", "188", "198", "130", "131", "132", "155", "156", "166", "175",
                   "176", "185", "186", "133", "153", "173", "177", "180", "181", "189", "199")  # fmt: skip
OUTSIDE_PROVINCE = ("江苏省苏州市", "浙江省宁波市", "浙江省杭州市", "广东省东莞市", "广东省深圳市", "天津市",
                    "新疆维吾尔自治区乌鲁木齐市", "陕西省西安市", "宁夏回族自治区银川市", "青海省西宁市",
                    "福建省厦门市", "四川省成都市", "内蒙古自治区鄂尔多斯市")  # fmt: skip
INSIDE_PROVINCE = ("甘肃省兰州市", "甘肃省合作市", "甘肃省天水市", "甘肃省陇南市武都区", "甘肃省迭部县",
                   "甘肃省临夏市", "甘肃省酒泉市", "甘肃省白银市")  # fmt: skip
HOMESTAY_NAMES = ("白龙江畔", "云上人家", "藏家小院", "山居", "花椒园", "蜂语小筑", "林间木屋", "半山", "石板房",
                  "望江楼", "古寨人家", "溪畔", "青稞香", "羊肚菌庄园")  # fmt: skip
COLLECTIVE_PROJECTS = (("光伏电站收益", "光伏收益"), ("集体林地发包", "资源发包"), ("集体商铺出租", "物业出租"),
                       ("农家乐入股分红", "入股分红"), ("农机作业服务", "生产服务"), ("乡村旅游接待中心", "乡村旅游"),
                       ("中药材基地入股", "入股分红"))  # fmt: skip
COOP_KINDS = {"羊肚菌": "羊肚菌种植", "花椒": "花椒种植", "黑土猪": "黑土猪养殖", "从岭藏鸡": "藏鸡养殖",
              "中华蜂": "中华蜂养殖", "中药材": "中药材种植", "核桃": "核桃种植"}  # fmt: skip
TALENT_EMPLOYERS = ("舟曲县农业技术推广中心", "舟曲县畜牧兽医站", "舟曲县林业和草原局", "舟曲县经济作物站")
_USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # the characters of a unified social credit code


def person_name(rng: random.Random, sex: str, age: int, ethnicity: str, surname: str | None = None) -> str:
    """A made-up name fitting sex, age and ethnicity; `surname` keeps a family's surname (Han-style names)."""
    male = sex == "男"
    if ethnicity == "藏族" and rng.random() < 0.5:
        pool = TIBETAN_MALE if male else TIBETAN_FEMALE
        return rng.choice(pool) + (rng.choice(pool) if rng.random() < 0.3 else "")
    if surname is None:
        surname = rng.choice(HUI_SURNAMES if ethnicity == "回族" else SURNAMES)
    if age < 25 and rng.random() < 0.7:
        return surname + rng.choice(MODERN_MALE if male else MODERN_FEMALE)
    chars = GIVEN_MALE if male else GIVEN_FEMALE
    return surname + "".join(rng.choice(chars) for _ in range(rng.choice((1, 2, 2))))


def mobile(rng: random.Random) -> str:
    """A well-formed mainland mobile number (11 digits)."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def credit_code(rng: random.Random, kind: str) -> str:
    """A made-up 18-character unified social credit code of 舟曲县 (kind 93: cooperative, 92: sole trader)."""
    return kind + "623023" + "".join(rng.choice(_USCC) for _ in range(10))


def stem(village: str) -> str:
    """A village name without its 村 suffix, for naming its cooperatives and facilities."""
    return village.removesuffix("村")


def near(rng: random.Random, gaz: Gazetteer, lat: float, lon: float, km: float) -> tuple[float, float]:
    """A (lon, lat) point within km of a position and inside the county boundary (the position itself at worst)."""
    for _ in range(50):
        r, angle = km * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        p_lat = round(lat + r * math.cos(angle) / 111.32, 6)
        p_lon = round(lon + r * math.sin(angle) / (111.32 * math.cos(math.radians(lat))), 6)
        if gaz.contains(p_lat, p_lon):
            return (p_lon, p_lat)
    return (round(lon, 6), round(lat, 6))


def money(value: float, scale: int = 2) -> Decimal:
    """A number as the Decimal a ledger's decimal field of that scale holds."""
    return Decimal(f"{value:.{scale}f}")

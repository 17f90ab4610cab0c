"""Personal data: its classes, SM4 sealing at rest, keyed SM3 blind indexes, ID-number and phone checks, masking."""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Literal, get_args

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# the classes of personal field a ledger declares; each is sealed at rest and masked for roles that don't need it
PersonalClass = Literal["id_number", "phone", "name", "health", "income", "location"]
CLASSES: tuple[str, ...] = get_args(PersonalClass)
CLASS_ZH = {"id_number": "身份证号", "phone": "电话", "name": "姓名", "health": "健康状况", "income": "收入",
            "location": "位置"}  # fmt: skip
MOBILE = re.compile(r"^1[3-9]\d{9}$")  # a mainland mobile number
LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")  # a mainland fixed line with its area code (0941-xxxxxxx)
_ID = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_NONCE = 12
_KEY_VERSION = 1  # the first byte of every sealed value: which key sealed it (rotation keeps old ones readable)


class SealError(ValueError):
    """A sealed value that does not open under the configured key (wrong key or tampered bytes)."""


def id_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character of the first 17 digits of a citizen ID number."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def id_number_problem(value: str) -> str | None:
    """Why a citizen ID number is invalid (Chinese), or None when it is well formed with a correct check digit."""
    if not _ID.match(value):
        return "身份证号应为18位:17位数字加1位校验码(数字或X)"
    if not ("19000101" <= value[6:14] <= "21001231") or not (1 <= int(value[10:12]) <= 12) or value[12:14] == "00":
        return "身份证号中的出生日期不正确"
    if id_check_digit(value[:17]) != value[17]:
        return "身份证号校验码不正确"
    return None


def normalize(cls: str, value: str) -> str:
    """The canonical form of a personal value for matching: full-width folded, spaces gone, upper-case X, no +86."""
    text = unicodedata.normalize("NFKC", value).strip()
    if cls == "id_number":
        return text.upper()
    if cls == "phone":
        digits = re.sub(r"[\s()]", "", text)
        return digits[3:] if digits.startswith("+86") else digits
    return text


def phone_problem(value: str) -> str | None:
    """Why a phone number is invalid (Chinese), or None for a mainland mobile or a fixed line with area code."""
    if MOBILE.match(value) or LANDLINE.match(value):
        return None
    return "电话号码格式不正确:应为11位手机号或带区号的固定电话"


def mask(cls: str, value: str) -> str:
    """A personal value as a role without the need sees it: 623025********12, 138****5678, 张*, or hidden."""
    if not value:
        return ""
    if cls == "id_number":
        return _middle(value, 6, 2)
    if cls == "phone":
        return _middle(value, 3, 4)
    if cls == "name":
        return value[0] + "*" * max(1, len(value) - 1)
    return "***"  # health, income and location say nothing at all


def _middle(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


class Sealer:
    """SM4-GCM sealing and keyed-SM3 blind indexes, both derived from one master secret."""

    def __init__(self, master: bytes) -> None:
        if len(master) < 16:
            raise ValueError("the records master key must hold at least 16 bytes")
        self._sm4 = algorithms.SM4(_derive(master, b"zhouqu/records/sm4")[:16])
        self._index_key = _derive(master, b"zhouqu/records/blind-index")

    def seal(self, plain: str, context: str) -> bytes:
        """Encrypt a value; `context` (ledger.field) is authenticated, so a value can't be moved to another field."""
        nonce = os.urandom(_NONCE)
        enc = Cipher(self._sm4, modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(context.encode())
        body = enc.update(plain.encode()) + enc.finalize()
        return bytes([_KEY_VERSION]) + nonce + body + enc.tag

    def open(self, sealed: bytes, context: str) -> str:
        """Decrypt what `seal` made for the same context; SealError when the key or the bytes are wrong."""
        if len(sealed) < 1 + _NONCE + 16 or sealed[0] != _KEY_VERSION:
            raise SealError("sealed value has an unknown format or key version")
        nonce, body, tag = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE : -16], sealed[-16:]
        dec = Cipher(self._sm4, modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(context.encode())
        try:
            return (dec.update(body) + dec.finalize()).decode()
        except InvalidTag as exc:
            raise SealError(f"sealed value of {context} does not open under this key") from exc

    def index(self, cls: str, value: str, context: str) -> str:
        """The blind index of a value for exact look-up: keyed SM3 of its normal form, hex, per field."""
        h = hmac.HMAC(self._index_key, hashes.SM3())
        h.update(f"{context}\x00{normalize(cls, value)}".encode())
        return h.finalize().hex()


def _derive(master: bytes, label: bytes) -> bytes:
    h = hmac.HMAC(master, hashes.SM3())
    h.update(label)
    return h.finalize()

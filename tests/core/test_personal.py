"""Personal data: GB 11643 check digits, phone forms, masks by class, SM4 sealing and keyed-SM3 blind indexes."""

from __future__ import annotations

import pytest

from core.personal import Sealer, SealError, id_check_digit, id_number_problem, mask, normalize, phone_problem

KEY = b"a-test-master-key-of-enough-length"


def test_check_digits_of_published_examples() -> None:
    assert id_check_digit("11010519491231002") == "X"
    assert id_check_digit("44052418800101001") == "4"
    assert id_check_digit("62302319800101001") == "6"


def test_id_number_problems() -> None:
    assert id_number_problem("11010519491231002X") is None
    assert id_number_problem("110105194912310021") == "身份证号校验码不正确"
    assert id_number_problem("11010519491331002X") == "身份证号中的出生日期不正确"
    assert id_number_problem("1101051949123100") == "身份证号应为18位:17位数字加1位校验码(数字或X)"
    assert normalize("id_number", " １１０１０５１９４９１２３１００２x ") == "11010519491231002X"


def test_phone_forms() -> None:
    assert phone_problem("13909410001") is None
    assert phone_problem("0941-5121234") is None
    assert phone_problem("12909410001") is not None
    assert phone_problem("1390941000") is not None
    assert normalize("phone", "+86 139 0941 0001") == "13909410001"


def test_masks_by_class() -> None:
    assert mask("id_number", "11010519491231002X") == "110105**********2X"
    assert mask("phone", "13909410001") == "139****0001"
    assert mask("name", "扎西才让") == "扎***"
    assert mask("income", "35000.00") == "***"
    assert mask("health", "残疾") == "***"
    assert mask("location", "104.2,33.7") == "***"


def test_sealed_values_open_only_under_their_key_and_field() -> None:
    sealer = Sealer(KEY)
    sealed = sealer.seal("13909410001", "household.phone")
    assert b"13909410001" not in sealed
    assert sealer.open(sealed, "household.phone") == "13909410001"
    assert sealer.seal("13909410001", "household.phone") != sealed  # a fresh nonce each time
    with pytest.raises(SealError):
        sealer.open(sealed, "member.phone")
    with pytest.raises(SealError):
        Sealer(b"another-master-key-of-enough-len").open(sealed, "household.phone")
    with pytest.raises(SealError):
        sealer.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), "household.phone")


def test_blind_indexes_match_normal_forms_per_field_and_key() -> None:
    sealer = Sealer(KEY)
    one = sealer.index("phone", "13909410001", "household.phone")
    assert sealer.index("phone", "+86 139 0941 0001", "household.phone") == one
    assert sealer.index("phone", "13909410001", "member.phone") != one
    assert Sealer(b"another-master-key-of-enough-len").index("phone", "13909410001", "household.phone") != one
    assert len(one) == 64


def test_a_short_master_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Sealer(b"short")

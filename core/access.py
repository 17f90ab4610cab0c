"""Who an account is and what it may see and do: roles, scope by level and place, permissions by duty, masking."""

from __future__ import annotations

import msgspec

LEVELS = ("county", "township", "village")
DUTIES = ("operator", "officer", "responder", "auditor", "admin", "kiosk")
LEVEL_ZH = {"county": "县级", "township": "乡镇", "village": "村级"}
DUTY_ZH = {"operator": "值班员", "officer": "村干部", "responder": "处置人员", "auditor": "审计员", "admin": "管理员",
           "kiosk": "大屏展示"}  # fmt: skip
# duty -> what it may do; the server checks these on every action, the UI only hides what is not allowed
# ("screen": the self-refreshing big screen; a kiosk account opens only that, and only its refreshes keep it logged in)
PERMISSIONS: dict[str, frozenset[str]] = {
    "operator": frozenset({"view", "screen", "act", "broadcast"}),
    "officer": frozenset({"view", "screen", "act", "broadcast", "personal"}),
    "responder": frozenset({"view", "screen"}),
    "auditor": frozenset({"view", "screen", "audit"}),
    "admin": frozenset({"view", "screen", "audit", "users", "restore"}),
    "kiosk": frozenset({"screen"}),
}
# ticket actions an operator or officer may take from the ops center (responders act from their phones)
DESK_ACTIONS = ("accept", "dispatch", "escalate", "merge", "return", "close", "ack")


class User(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An operations-center account: who, where (level and place) and which duties."""

    username: str
    name: str  # display name
    level: str  # county | township | village
    duties: list[str]
    township: str = ""  # for township and village accounts
    village: str = ""  # for village accounts
    password_hash: str = ""
    disabled: bool = False
    created: int = 0


class AccessDenied(PermissionError):
    """An action or record outside the account's scope or duties; the message is Chinese."""


def can(user: User, permission: str) -> bool:
    """Whether any of the user's duties grants the permission."""
    return any(permission in PERMISSIONS.get(d, frozenset()) for d in user.duties)


def require(user: User, permission: str) -> None:
    """Raise AccessDenied unless the user has the permission."""
    if not can(user, permission):
        raise AccessDenied(f"{user.username} 无此权限({permission})")


def in_scope(user: User, township: str, village: str = "") -> bool:
    """Whether a place lies in the user's area: the county sees all, a township its own, a village its own."""
    if user.level == "county":
        return True
    if user.level == "township":
        return bool(township) and township == user.township
    return bool(village) and village == user.village and township in ("", user.township)


def audit_in_scope(viewer: User, actor: User | None) -> bool:
    """Whether an audit record by `actor` (None: no such account, e.g. a failed login) lies in the viewer's area:
    the county sees every record, a township or village the records of its own accounts."""
    return viewer.level == "county" or (actor is not None and in_scope(viewer, actor.township, actor.village))


def scope_label(user: User) -> str:
    """The user's area in Chinese, for the header."""
    if user.level == "county":
        return "舟曲县(全县)"
    return user.township if user.level == "township" else f"{user.township} {user.village}"


def mask(value: str, keep_head: int = 3, keep_tail: int = 4) -> str:
    """Mask the middle of an ID or phone number: 138****5678, 623025**********12."""
    if not value:
        return ""
    if len(value) <= keep_head + keep_tail:
        return "*" * len(value)
    return value[:keep_head] + "*" * (len(value) - keep_head - keep_tail) + value[-keep_tail:]


def sees_personal(user: User, township: str, village: str) -> bool:
    """Whether the user sees personal values of that place whole: the officer of that place, never the county."""
    return can(user, "personal") and in_scope(user, township, village) and user.level != "county"


def personal(user: User, value: str, township: str, village: str, *, id_number: bool = False) -> str:
    """A personal value as the user may see it: whole for the officer of that place, else masked."""
    if sees_personal(user, township, village):
        return value
    return mask(value, 6, 2) if id_number else mask(value)

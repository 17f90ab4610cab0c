"""Account and roster administration behind the admin page: every change checked (duty, area) and audited."""

from __future__ import annotations

from adapters import rosters as roster_store
from adapters.accounts import FAILS, AccountError, strong_password
from adapters.push.tokens import add_token, revoke_user
from core.access import AccessDenied, User, in_scope, require
from ops_center.session import OpsSession

ROSTER_ZH = {"village": "村值班干部", "township": "乡镇值班员", "county": "县级值班"}


def _manages(admin: User, user: User) -> bool:
    """A county admin manages everyone; a township admin the accounts of their township (not county ones)."""
    return admin.level == "county" or (user.level != "county" and in_scope(admin, user.township, user.village))


async def _target(session: OpsSession, username: str) -> User:
    require(session.user, "users")
    user = await session.ctx.accounts.get(username)
    if user is None or not _manages(session.user, user):
        raise AccessDenied(f"账号 {username} 不存在或不归您管理")
    return user


async def visible_users(session: OpsSession) -> list[User]:
    """The accounts this admin manages."""
    require(session.user, "users")
    return [u for u in await session.ctx.accounts.all() if _manages(session.user, u)]


async def create_user(session: OpsSession, user: User) -> str:
    """Create an account with a generated password (returned once, for the admin to hand over)."""
    require(session.user, "users")
    if not _manages(session.user, user):
        raise AccessDenied("只能在您管辖的范围内创建账号")
    password = strong_password()
    try:
        await session.ctx.accounts.create(user, password)
    except AccountError as exc:
        await session.audit("user_create", user.username, ok=False, why=str(exc))
        raise
    await session.audit("user_create", user.username, level=user.level, duties=user.duties)
    return password


async def reset_password(session: OpsSession, username: str) -> str:
    """Give an account a new generated password (its sessions end); returns it once."""
    await _target(session, username)
    password = strong_password()
    await session.ctx.accounts.set_password(username, password)
    await session.audit("user_password_reset", username)
    return password


async def set_disabled(session: OpsSession, username: str, disabled: bool) -> None:
    """Disable (ending its sessions and phone tokens) or re-enable an account."""
    if username == session.user.username:
        raise AccessDenied("不能停用自己的账号")
    await _target(session, username)
    await session.ctx.accounts.set_disabled(username, disabled)
    await session.audit("user_disable" if disabled else "user_enable", username)


async def unlock(session: OpsSession, username: str) -> None:
    """Clear a lockout after failed logins."""
    await _target(session, username)
    await session.ctx.redis.delete(FAILS + username)
    await session.audit("user_unlock", username)


async def issue_phone_token(session: OpsSession, username: str) -> str:
    """(Re-)issue the person's phone token: earlier ones stop working at once; it expires after push.token_ttl_s."""
    user = await _target(session, username)
    if not ({"responder", "officer", "operator"} & set(user.duties)):
        raise AccessDenied("只有处置人员、村干部和值班员需要手机令牌")
    if user.disabled:
        raise AccessDenied(f"账号 {username} 已停用,不能发放手机令牌")
    revoked = await revoke_user(session.ctx.redis, username)
    token = await add_token(session.ctx.redis, username, session.ctx.settings.push.token_ttl_s)
    await session.audit("phone_token", username, revoked=revoked)
    return token


async def rosters(session: OpsSession) -> list[tuple[str, str, str]]:
    """Current duty rosters in the admin's area: (roster, place, username)."""
    require(session.user, "users")
    entries = await roster_store.entries(session.ctx.redis)
    return [(ROSTER_ZH[kind], place, who) for kind, place, who in entries if _place_in_scope(session, kind, place)]


def _place_in_scope(session: OpsSession, kind: str, place: str) -> bool:
    user = session.user
    if kind == "county":
        return user.level == "county"
    if kind == "township":
        return in_scope(user, place)
    township = next((v.township for v in session.ctx.gazetteer.villages if v.name == place), "")
    return in_scope(user, township, place)


async def set_roster(session: OpsSession, kind: str, place: str, username: str) -> None:
    """Put a person on duty: a village's officer, a township's duty officer, or the county's duty officer."""
    if kind not in roster_store.KEYS:
        raise AccessDenied(f"未知值班表 {kind}")
    user = await _target(session, username)
    place = "duty" if kind == "county" else place
    if not _place_in_scope(session, kind, place):
        raise AccessDenied(f"{place} 不在您的管辖范围内")
    if kind == "village" and "officer" not in user.duties:
        raise AccessDenied("村值班干部须具有“村干部”职责")
    await roster_store.assign(session.ctx.redis, kind, place, username)
    await session.audit("roster_set", f"{kind}:{place}", user=username)

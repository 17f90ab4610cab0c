"""Account administration: `python -m adapters.accounts_cli create-admin|add|list|passwd|disable|enable|unlock`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

import redis.asyncio as aioredis

from adapters.accounts import FAILS, AccountError, Accounts, strong_password
from adapters.redis_server import default_url
from core.access import DUTIES, LEVELS, User
from core.settings import load_settings

# demo accounts of `make demo`: username, name, level, duties, township, village
DEMO_ACCOUNTS = (
    ("county_admin", "县平台管理员", "county", ["admin"], "", ""),
    ("county_op", "县指挥中心值班员", "county", ["operator"], "", ""),
    ("lijie_op", "立节镇值班员", "township", ["operator"], "立节镇", ""),
    ("fengdie_op", "峰迭镇值班员", "township", ["operator"], "峰迭镇", ""),
    ("dachuan_op", "大川镇值班员", "township", ["operator"], "大川镇", ""),
    ("langchaba_officer", "狼岔坝村干部", "village", ["officer"], "大川镇", "狼岔坝村"),
    ("jiedi_officer", "杰迪村干部", "village", ["officer"], "立节镇", "杰迪村"),
    ("auditor", "县审计员", "county", ["auditor"], "", ""),
    ("langchaba_screen", "狼岔坝村大屏", "village", ["kiosk"], "大川镇", "狼岔坝村"),
    ("jiedi_resp", "杰迪村应急队员", "village", ["responder"], "立节镇", "杰迪村"),
)


async def create_demo_accounts(accounts: Accounts) -> list[tuple[User, str]]:
    """Create the demo accounts that do not exist yet; returns them with their passwords (shown once)."""
    made = []
    for username, name, level, duties, township, village in DEMO_ACCOUNTS:
        if await accounts.get(username) is not None:
            continue
        password = strong_password()
        user = User(username=username, name=name, level=level, duties=duties, township=township, village=village)
        made.append((await accounts.create(user, password), password))
    return made


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("新密码: ")
    if getpass.getpass("再输入一次: ") != first:
        raise AccountError("两次输入的密码不一致")
    return first


async def _run(args: argparse.Namespace) -> str:
    settings = load_settings()
    url = settings.redis_url or default_url(settings.var_dir)  # the platform's own server: var/redis/url
    redis = aioredis.from_url(url)
    try:
        accounts = Accounts(redis, settings.ops)
        if args.cmd in ("create-admin", "add"):
            level = "county" if args.cmd == "create-admin" else args.level
            duties = ["admin"] if args.cmd == "create-admin" else args.duties.split(",")
            user = User(username=args.username, name=args.name or args.username, level=level, duties=duties,
                        township=getattr(args, "township", ""), village=getattr(args, "village", ""))  # fmt: skip
            await accounts.create(user, _password(args))
            return f"已创建 {args.username}"
        if args.cmd == "list":
            rows = [[u.username, u.name, u.level, ",".join(u.duties), u.township + u.village,
                     "停用" if u.disabled else ""] for u in await accounts.all()]  # fmt: skip
            return "\n".join("\t".join(r) for r in rows)
        if args.cmd == "passwd":
            await accounts.set_password(args.username, _password(args))
            return f"已修改 {args.username} 的密码,其登录会话已结束"
        if args.cmd in ("disable", "enable"):
            await accounts.set_disabled(args.username, args.cmd == "disable")
            return f"已{'停用' if args.cmd == 'disable' else '启用'} {args.username}"
        await redis.delete(FAILS + args.username)
        return f"已解锁 {args.username}"
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    """Manage operations-center accounts in the platform's Redis (REDIS_URL)."""
    parser = argparse.ArgumentParser(description="Operations-center accounts (there are no default passwords).")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("create-admin", "add", "passwd"):
        p = sub.add_parser(name)
        p.add_argument("username")
        p.add_argument("--password-stdin", action="store_true", help="Read the password from stdin (scripts).")
        if name != "passwd":
            p.add_argument("--name", default="", help="Display name.")
        if name == "add":
            p.add_argument("--level", choices=LEVELS, required=True)
            p.add_argument("--duties", required=True, help=f"Comma-separated: {','.join(DUTIES)}.")
            p.add_argument("--township", default="")
            p.add_argument("--village", default="")
    sub.add_parser("list")
    for name in ("disable", "enable", "unlock"):
        sub.add_parser(name).add_argument("username")
    args = parser.parse_args(argv)
    try:
        print(asyncio.run(_run(args)))
    except AccountError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Operator commands that talk to Redis directly: ``osler token``, ``tenant`` and ``audit``.

They reach the configured Redis (``OSLER_REDIS_URL``), or the embedded one: the running
``osler up``'s socket, or a server started for the command when none runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import redis

from osler.api.cli.errors import CommandError
from osler.api.stack_registry import running_stacks
from osler.workers.audit import ACTIONS, AuditStore
from osler.workers.quotas import QuotaStore, parse_size
from osler.workers.settings import Settings
from osler.workers.tenants import TenantStore, parse_duration


def _token_store(settings: Settings) -> tuple[Settings, str]:
    """The settings whose Redis holds the running stack's tenants, and a line saying which.

    Never a Redis of its own while ``osler up`` runs elsewhere: with no ``OSLER_DATA_DIR`` set,
    the one stack running on this machine is used; with one set, a stack elsewhere is an error.
    """
    if settings.redis_url is not None:
        return settings, f"Redis at {settings.redis_url.rsplit('@', 1)[-1]} (OSLER_REDIS_URL)"
    from osler.workers.redis_server import unix_socket_answers

    if unix_socket_answers(settings.embedded_redis_socket):
        return settings, f"the stack running on {settings.data_dir}"
    others = [s for s in running_stacks() if s.data_dir != settings.data_dir.resolve()]
    if others and os.environ.get("OSLER_DATA_DIR"):
        raise CommandError(
            f"no osler stack runs on {settings.data_dir}, but one runs on {others[0].data_dir}: "
            "set OSLER_DATA_DIR to that folder")
    if len(others) > 1:
        raise CommandError("several osler stacks are running (" + ", ".join(
            str(s.data_dir) for s in others) + "): set OSLER_DATA_DIR to one")
    if others:
        target = replace(settings, data_dir=others[0].data_dir)
        return target, f"the stack running on {target.data_dir}"
    return settings, (f"the store in {settings.data_dir} (no osler stack is running; "
                      "'osler up' there will accept the token)")


@contextmanager
def _redis(settings: Settings) -> Iterator[tuple[redis.Redis, str]]:
    """A client of the running stack's Redis (see :func:`_token_store`) and where it is; an
    embedded Redis is started for the command only when no stack runs anywhere."""
    from osler.workers.redis_connection import connect
    from osler.workers.redis_server import RedisServer, unix_socket_answers

    target, where = _token_store(settings)
    server = None
    if target.redis_url is None and not unix_socket_answers(target.embedded_redis_socket):
        socket_path = target.embedded_redis_socket
        server = RedisServer(socket_path.parent, unix_socket=socket_path).start()
    try:
        yield connect(target), where
    finally:
        if server is not None:
            server.stop()


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    expires_in = parse_duration(args.expires_in) if args.expires_in else None
    with _redis(settings) as (client, where):
        info, secret = TenantStore(client).issue(
            args.tenant, name=args.name, expires_in=expires_in, scope=args.scope
        )
    print(secret)
    print(f"osler: token {info.id} for tenant {args.tenant!r} written to {where}",
          file=sys.stderr)
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    with _redis(settings) as (client, _where):
        tokens = TenantStore(client).list_tokens(args.tenant)
    for token in tokens:
        state = "revoked" if token["revoked_at"] else f"expires {token['expires_at'] or 'never'}"
        print(f"{token['id']}  {token['tenant']:<20} {token['name']:<16} {token['scope']:<5} "
              f"created {token['created_at']}  last used {token['last_used_at'] or 'never'}  "
              f"{state}")
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with _redis(settings) as (client, _where):
        info = TenantStore(client).revoke(args.token_id)
    print(f"token {info.id} of tenant {info.tenant} revoked")
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    """Print a tenant's audit records as JSON lines, oldest first, every page."""
    with _redis(settings) as (client, _where):
        store = AuditStore(client, settings.audit_retention_days)
        cursor = None
        while True:
            records, cursor = store.query(
                args.tenant, since=args.since, until=args.until, action=args.action,
                cursor=cursor, limit=1000,
            )
            for record in records:
                print(json.dumps(record))
            if cursor is None:
                return 0


def cmd_tenant_set(args: argparse.Namespace, settings: Settings) -> int:
    with _redis(settings) as (client, _where):
        quota = QuotaStore(client, settings).set(
            args.tenant,
            max_storage=parse_size(args.max_storage) if args.max_storage else None,
            max_active_jobs=args.max_active_jobs, rate=args.rate,
        )
    print(json.dumps(quota.public()))
    return 0


def cmd_tenant_show(args: argparse.Namespace, settings: Settings) -> int:
    with _redis(settings) as (client, _where):
        print(json.dumps(QuotaStore(client, settings).get(args.tenant).public()))
    return 0


def add_commands(sub: Any) -> None:
    """Add ``token`` and ``audit`` to the ``osler`` parser's subcommands."""
    token = sub.add_parser("token", help="manage tokens (operator: talks to Redis)")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="make a token for TENANT (created if new)")
    create.add_argument("tenant")
    create.add_argument("--name", default="default")
    create.add_argument("--expires-in", metavar="30d", help="lifetime: N s, m, h or d")
    create.add_argument("--scope", choices=("full", "read"), default="full")
    _set(create, cmd_token_create)
    listing = token_sub.add_parser("list", help="list tokens (of TENANT, or every tenant's)")
    listing.add_argument("tenant", nargs="?")
    _set(listing, cmd_token_list)
    revoke = token_sub.add_parser("revoke", help="revoke a token by its id (401 at once)")
    revoke.add_argument("token_id")
    _set(revoke, cmd_token_revoke)

    tenant = sub.add_parser("tenant", help="a tenant's quotas (operator: talks to Redis)")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    setting = tenant_sub.add_parser("set", help="set some of TENANT's quotas")
    setting.add_argument("tenant")
    setting.add_argument("--max-storage", metavar="50GiB")
    setting.add_argument("--max-active-jobs", type=int, metavar="N")
    setting.add_argument("--rate", metavar="10/s", help="requests per s or m")
    _set(setting, cmd_tenant_set)
    show = tenant_sub.add_parser("show", help="TENANT's quotas (its own or the defaults)")
    show.add_argument("tenant")
    _set(show, cmd_tenant_show)

    audit = sub.add_parser("audit", help="print a tenant's audit records (JSON lines)")
    audit.add_argument("tenant", help="a tenant; '-' for failed logins that named none")
    audit.add_argument("--since", help="ISO 8601 time, e.g. 2026-12-01T00:00:00Z")
    audit.add_argument("--until")
    audit.add_argument("--action", choices=ACTIONS)
    _set(audit, cmd_audit)


Command = Callable[[argparse.Namespace, Settings], int]


def _set(parser: argparse.ArgumentParser, func: Command) -> None:
    parser.set_defaults(func=func)

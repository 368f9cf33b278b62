#!/bin/sh
# Container entrypoint of a hub node: refuse to run production on a development secret, wait
# for PostgreSQL and bring its schema up to date, then become the hub (exec), so the hub is
# the process that receives SIGTERM and drains.
#
#   (no arguments), or options   hub serve [options]
#   any other command            run as given (`hub token ...`, `hub db upgrade`, `sh`),
#                                without the checks below: a one-off, not a node
#
# Besides the hub's own HUB_<SECTION>__<KEY> variables:
#   HUB_ALLOW_DEV_SECRET=1   let the hub generate a development signing secret (demos only)
#   HUB_DB_WAIT_S=60         how long to wait for PostgreSQL to accept a connection
#   HUB_MIGRATE=0            do not run `hub db upgrade`, and tell the hub not to migrate
#                            either (a separate, privileged job owns the schema)
#   HUB_DB_PASSWORD_FILE     file holding the PostgreSQL password, so the DSN need not
#                            carry it (the same file can feed POSTGRES_PASSWORD_FILE)
set -eu

if [ -n "${HUB_DB_PASSWORD_FILE:-}" ]; then
    if [ ! -r "$HUB_DB_PASSWORD_FILE" ]; then
        echo "entrypoint: HUB_DB_PASSWORD_FILE=$HUB_DB_PASSWORD_FILE is not readable" >&2
        exit 2
    fi
    # asyncpg uses PGPASSWORD when the DSN has no password of its own
    PGPASSWORD=$(cat "$HUB_DB_PASSWORD_FILE")
    export PGPASSWORD
fi

if [ "${HUB_MIGRATE:-1}" = 0 ]; then
    # Without this the hub would apply the migrations itself when it opens the journal.
    export HUB_JOURNAL__MIGRATE_ON_OPEN="${HUB_JOURNAL__MIGRATE_ON_OPEN:-false}"
fi

case "${1:-}" in
    "" | -*) ;;
    *) exec "$@" ;;
esac

# The checks read the configuration with the hub's own loader, so a key set in the config
# file (HUB_CONFIG) counts as much as one set in the environment. Prints the journal backend.
backend=$(python3 - <<'PY'
import asyncio
import os
import sys
import time
from urllib.parse import urlsplit

from hub.config import ConfigError, load_config


def fail(code, message):
    print(f"entrypoint: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


try:
    config = load_config()
except ConfigError as exc:
    fail(2, exc)

auth = config.auth
if not auth.secret and "HS256" in auth.algorithms and os.environ.get("HUB_ALLOW_DEV_SECRET") != "1":
    # auth.secret_file is where the hub keeps the secret it generates when none is given:
    # it counts as given only when the operator named it, and then it must already hold one.
    if "secret_file" in auth.model_fields_set:
        try:
            held = auth.secret_file.read_bytes().strip()
        except OSError as exc:
            fail(2, f"HUB_AUTH__SECRET_FILE={auth.secret_file}: {exc.strerror}; the hub "
                    "would generate a development secret there")
        if len(held) < 32:
            fail(2, f"HUB_AUTH__SECRET_FILE={auth.secret_file} holds {len(held)} bytes; "
                    "an HS256 secret needs at least 32")
    elif auth.jwks_url:
        fail(2, "HUB_AUTH__JWKS_URL is set but HUB_AUTH__ALGORITHMS still accepts HS256 and "
                "no HUB_AUTH__SECRET is given: the hub would verify HS256 tokens with a "
                "generated development secret. Set HUB_AUTH__ALGORITHMS=RS256 (or ES256), or "
                "HUB_AUTH__SECRET / HUB_AUTH__SECRET_FILE")
    else:
        fail(2, "no signing secret: set HUB_AUTH__SECRET, HUB_AUTH__SECRET_FILE (a file "
                "holding it) or HUB_AUTH__JWKS_URL with HUB_AUTH__ALGORITHMS=RS256. "
                "HUB_ALLOW_DEV_SECRET=1 runs on a generated development secret: never in "
                "production")

if config.journal.backend != "postgresql":
    print(config.journal.backend)
    sys.exit(0)

raw = os.environ.get("HUB_DB_WAIT_S", "60")
try:
    budget = float(raw)
except ValueError:
    budget = -1.0
if not budget >= 0:
    fail(2, f"HUB_DB_WAIT_S={raw!r} is not a number of seconds")

import asyncpg

dsn = config.journal.dsn
try:  # never the DSN itself: it may hold the password
    parts = urlsplit(dsn)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
except ValueError:
    where = "the HUB_JOURNAL__DSN host"


async def wait():
    deadline = time.monotonic() + budget
    told = False
    while True:
        left = deadline - time.monotonic()
        try:
            conn = await asyncpg.connect(dsn, timeout=max(0.5, min(5.0, left)))
        except asyncpg.InvalidPasswordError as exc:
            fail(1, f"PostgreSQL at {where} refused the password: {exc}")
        except Exception as exc:  # refused, not resolvable yet, starting up, ...
            left = deadline - time.monotonic()
            if left <= 0:
                fail(1, f"PostgreSQL at {where} did not answer within {budget:g} s "
                        f"(HUB_DB_WAIT_S); last error: {type(exc).__name__}: {exc}")
            if not told:
                print(f"entrypoint: waiting up to {budget:g} s for PostgreSQL at {where} "
                      f"({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)
                told = True
            await asyncio.sleep(min(1.0, left))
        else:
            await conn.close()
            return


asyncio.run(wait())
print("postgresql")
PY
) || exit $?

if [ "$backend" = postgresql ] && [ "${HUB_MIGRATE:-1}" != 0 ]; then
    # Every node may run it at once: migrations take an advisory lock, the first applies them.
    hub db upgrade
fi

exec hub serve "$@"

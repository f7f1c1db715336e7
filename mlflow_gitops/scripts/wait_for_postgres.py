"""Wait until PostgreSQL accepts the role's credentials (not just a TCP connection).

libpq reads PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD and PGSSLMODE from the environment.
Exits 0 once a login succeeds, 1 after WAIT_ATTEMPTS failed attempts.
"""

import os
import sys
import time

import psycopg2


def main() -> int:
    attempts = int(os.environ.get("WAIT_ATTEMPTS", "60"))
    delay = float(os.environ.get("WAIT_DELAY_SECONDS", "5"))
    target = f"{os.environ.get('PGUSER')}@{os.environ.get('PGHOST')}:{os.environ.get('PGPORT')}"
    for attempt in range(1, attempts + 1):
        try:
            psycopg2.connect(connect_timeout=5).close()
        except psycopg2.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            print(f"[{attempt}/{attempts}] PostgreSQL not ready for {target}: {reason}", flush=True)
            time.sleep(delay)
            continue
        print(f"PostgreSQL accepts {target}", flush=True)
        return 0
    print(f"PostgreSQL did not accept {target} after {attempts} attempts", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

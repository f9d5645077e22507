"""The web process of bench_workspaces.py: ``compass-bot serve --no-clock``, counting its database work.

Statements, commits and connection checkouts (each one a pre-ping round trip, and a rollback round
trip when it goes back to the pool after a read) are written to the file named by the argument five
times a second, so the bench reads them at the start and the end of the wave.
"""

import json
import os
import sys
import threading
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

counts, lock, path = {"statements": 0, "commits": 0, "checkouts": 0}, threading.Lock(), sys.argv[1]


def counter(name):
    def count(*_):
        with lock:
            counts[name] += 1
    return count


def write():
    while True:
        with open(path + ".tmp", "w") as out:
            out.write(json.dumps(counts))
        os.replace(path + ".tmp", path)
        time.sleep(0.2)


event.listen(Engine, "before_cursor_execute", counter("statements"))
event.listen(Engine, "commit", counter("commits"))
event.listen(Pool, "checkout", counter("checkouts"))
threading.Thread(target=write, daemon=True).start()
sys.argv = ["compass-bot", "serve", "--no-clock", "--host", "127.0.0.1"]
from bot.cli import main  # noqa: E402 - after the counters are listening

sys.exit(main())

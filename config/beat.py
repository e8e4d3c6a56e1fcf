"""Beat's scheduler on Redis: celery-redbeat's lock, riding out a Redis outage instead of exiting.

RedBeat keeps the schedule in Redis and lets one beat at a time hold a lock (settings.py). As it
comes, a tick that cannot reach Redis raises and beat exits, and a Redis that restarts empty has
lost both the lock and the schedule. Here beat keeps trying while Redis is away (the outbox keeps
the work meanwhile); once back, if the lock is no longer its own it waits for it like a second
beat would, then writes the schedule again.
"""

from __future__ import annotations

import logging
from typing import Any

from redbeat import RedBeatScheduler
from redis.exceptions import ConnectionError, LockError, TimeoutError

logger = logging.getLogger(__name__)


class LockedScheduler(RedBeatScheduler):  # type: ignore[misc]
    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            return float(super().tick(*args, **kwargs))
        except (ConnectionError, TimeoutError) as error:
            logger.warning("beat: Redis is unreachable (%s); trying again in %ss", error, self.max_interval)
            return float(self.max_interval)
        except LockError:
            # The lock expired while Redis was away, or Redis restarted empty: another beat may hold it now.
            logger.warning("beat: the lock is no longer ours; waiting for it")
            try:
                self.lock.acquire()
                logger.info("beat: Acquired lock")
                self.setup_schedule()  # a Redis that restarted empty lost the schedule too
            except (ConnectionError, TimeoutError) as error:
                logger.warning("beat: Redis is unreachable (%s); trying again in %ss", error, self.max_interval)
                return float(self.max_interval)
            return 0.0

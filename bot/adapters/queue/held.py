"""Deliveries held until they can be routed: verified, but waiting for the App's login, which
GitHub has not told yet (the server started while GitHub was out of reach)."""

from __future__ import annotations

from collections.abc import Callable

from bot.adapters.queue.pool import Pool
from bot.adapters.queue.rows import HeldDelivery


class HeldDeliveries(Pool):
    """The held deliveries in the queue's SQLite file (table `queue_held`)."""

    _clock: Callable[[], float]

    def hold(self, delivery_id: str, event: str, body: bytes, *, max_held: int) -> bool | None:
        """Keep a verified delivery whose routing must wait (it needs the App's login, which
        GitHub has not told yet). True when held; False for a delivery id already accepted or
        held (a redelivery); None when `max_held` deliveries wait already (refuse it, so GitHub
        records the delivery as failed and it can be redelivered)."""
        if not delivery_id:
            raise ValueError("delivery id is empty")
        with self._transaction() as conn:
            seen = conn.execute(
                "SELECT 1 FROM queue_deliveries WHERE delivery_id = ? UNION ALL "
                "SELECT 1 FROM queue_held WHERE delivery_id = ?",
                (delivery_id, delivery_id),
            ).fetchone()
            if seen is not None:
                return False
            if conn.execute("SELECT count(*) FROM queue_held").fetchone()[0] >= max_held:
                return None
            conn.execute(
                "INSERT INTO queue_held (delivery_id, event, body, received_at) "
                "VALUES (?, ?, ?, ?)",
                (delivery_id, event, body, self._clock()),
            )
            return True

    def held(self, limit: int = 100) -> list[HeldDelivery]:
        """The oldest held deliveries, in the order they came."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT delivery_id, event, body FROM queue_held ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [HeldDelivery(row[0], row[1], bytes(row[2])) for row in rows]

    def release(self, delivery_id: str) -> None:
        """Forget a held delivery once it was routed (`admit` has recorded it by then)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM queue_held WHERE delivery_id = ?", (delivery_id,))

    def held_count(self) -> int:
        """How many deliveries wait to be routed."""
        with self._connection() as conn:
            return int(conn.execute("SELECT count(*) FROM queue_held").fetchone()[0])

"""Traffic like FlowRent's shop tablets and staff produce, against the demo app.

Mostly ordinary requests (availability, bookings created / read / confirmed / cancelled /
paid), plus the mistakes a real app sees: bookings for 45 days (a ``ValueError`` in
validation), an item type without a tariff (``KeyError`` in pricing), unknown bookings
(404), malformed bodies (422), and scanner paths no route matches. Customer data is made
up but shaped like the real thing (e-mails, Spanish phone numbers), so what reaches the
stack shows whether the scrubbing works.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx

FIRST_NAMES = ["maria", "jose", "lucia", "pablo", "carmen", "javier", "elena", "david"]
LAST_NAMES = ["garcia", "martinez", "lopez", "sanchez", "perez", "gomez", "ruiz", "diaz"]
ITEM_TYPES = ["bike", "bike", "bike", "ebike", "ebike", "kids_bike", "scooter"]
SCANNER_PATHS = ["/wp-login.php", "/.env", "/admin/config.php", "/phpmyadmin/"]

MAX_CONNECTIONS = 8  # the client pool; also bounds the retries in ``call``


@dataclass
class Traffic:
    base_url: str
    rate: float = 10.0
    seed: int | None = None
    status_counts: Counter[int] = field(default_factory=Counter)
    failures: int = 0
    reconnects: int = 0
    latencies: list[float] = field(default_factory=list)
    booking_ids: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def customer(self) -> tuple[str, str]:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        email = f"{first}.{last}{self.rng.randint(1, 99)}@example.com"
        digits = f"{self.rng.randint(600, 699)} {self.rng.randint(100, 999)} "
        phone = "+34 " + digits + f"{self.rng.randint(100, 999)}"
        return email, phone

    def booking_body(
        self, *, days: int | None = None, item_type: str | None = None
    ) -> dict[str, object]:
        email, phone = self.customer()
        start = date.today() + timedelta(days=self.rng.randint(0, 14))
        return {
            "item_type": item_type or self.rng.choice(ITEM_TYPES),
            "customer_email": email,
            "customer_phone": phone,
            "start_date": start.isoformat(),
            "days": days if days is not None else self.rng.randint(1, 7),
        }

    def some_booking(self) -> int:
        return self.rng.choice(self.booking_ids) if self.booking_ids else 1

    async def one(self, client: httpx.AsyncClient) -> None:
        r = self.rng.random()
        if r < 0.28:
            item = self.rng.choice(ITEM_TYPES)
            day = (date.today() + timedelta(days=self.rng.randint(0, 14))).isoformat()
            await self.call(client, "GET", f"/availability?item_type={item}&date={day}")
        elif r < 0.48:
            response = await self.call(client, "POST", "/bookings", json=self.booking_body())
            if response is not None and response.status_code == 201:
                self.booking_ids.append(response.json()["booking_id"])
        elif r < 0.58:
            await self.call(client, "GET", f"/bookings/{self.some_booking()}")
        elif r < 0.68:
            await self.call(client, "POST", f"/bookings/{self.some_booking()}/confirm")
        elif r < 0.73:
            reason = self.rng.choice(["customer_request", "no_show", "weather"])
            body = {"reason": reason}
            await self.call(client, "POST", f"/bookings/{self.some_booking()}/cancel", json=body)
        elif r < 0.78:
            method = self.rng.choice(["card", "card", "cash", "transfer"])
            url = f"/bookings/{self.some_booking()}/payment"
            await self.call(client, "POST", url, json={"method": method})
        elif r < 0.83:
            await self.call(client, "GET", "/health")
        elif r < 0.86:
            await self.call(client, "POST", "/bookings", json=self.booking_body(days=45))
        elif r < 0.89:
            tandem = self.booking_body(item_type="tandem")
            await self.call(client, "POST", "/bookings", json=tandem)
        elif r < 0.93:
            await self.call(client, "GET", f"/bookings/{self.rng.randint(10**6, 10**7)}")
        elif r < 0.96:
            await self.call(client, "POST", "/bookings", json={"item_type": "bike", "days": "x"})
        else:
            await self.call(client, "GET", self.rng.choice(SCANNER_PATHS))

    async def call(
        self, client: httpx.AsyncClient, method: str, path: str, json: object = None
    ) -> httpx.Response | None:
        started = time.perf_counter()
        # uvicorn drops a keep-alive connection after the app raised (FastAPI's 500 path
        # re-raises), so a request sent on it is never read. Each of the pool's idle
        # connections can be such a one, so a retry may meet another: try once more per
        # connection the client may hold.
        for attempt in range(MAX_CONNECTIONS + 1):
            try:
                response = await client.request(method, path, json=json)
                break
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                if attempt == MAX_CONNECTIONS:
                    self.failures += 1
                    return None
                self.reconnects += 1
            except httpx.HTTPError:
                self.failures += 1
                return None
        self.latencies.append(time.perf_counter() - started)
        self.status_counts[response.status_code] += 1
        return response

    async def run(self, duration: float | None, concurrency: int = 4) -> None:
        """Send ``rate`` requests a second for ``duration`` seconds (None: until cancelled)."""
        deadline = None if not duration else time.monotonic() + duration
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10, limits=limits) as client:
            slots = asyncio.Semaphore(concurrency)
            pending: set[asyncio.Task[None]] = set()
            next_at = time.monotonic()
            while deadline is None or time.monotonic() < deadline:
                await slots.acquire()
                task = asyncio.create_task(self.one(client))
                pending.add(task)
                task.add_done_callback(pending.discard)
                task.add_done_callback(lambda _: slots.release())
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            if pending:
                await asyncio.wait(pending)

    def summary(self) -> str:
        total = sum(self.status_counts.values())
        by_status = ", ".join(f"{k}: {v}" for k, v in sorted(self.status_counts.items()))
        return f"{total} requests ({by_status}), {self.failures} connection failures"

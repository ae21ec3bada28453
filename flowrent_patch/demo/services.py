"""FlowRent-like services: validation, pricing, e-mail (Postmark stand-in that fails).

They fail the way real code does, so the demo feeds the error tracker real exceptions:
``validate_booking`` raises ``ValueError`` (and puts the customer's e-mail in the message,
as careless code does: the scrubbing must remove it), ``quote`` raises ``KeyError`` for an
item type without a tariff, and ``EmailService.send`` raises ``EmailError`` a configurable
share of the time (the caller counts it and carries on, as FlowRent must).
"""

from __future__ import annotations

import logging
import random
import time
from datetime import date

from flowrent_patch import business

log = logging.getLogger("app.services.email")

TARIFFS_EUR_PER_DAY = {"bike": 12.0, "ebike": 25.0, "kids_bike": 8.0, "scooter": 18.0}
INVENTORY = {"bike": 40, "ebike": 15, "kids_bike": 10, "scooter": 8, "tandem": 2}
MAX_DAYS = 30


class EmailError(Exception):
    """Postmark answered with an error or did not answer in time."""


def validate_booking(email: str, start_date: str, days: int) -> None:
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"rental of {days} days for {email} is outside 1..{MAX_DAYS}")
    date.fromisoformat(start_date)


def quote(item_type: str, days: int) -> float:
    return TARIFFS_EUR_PER_DAY[item_type] * days  # KeyError: no tariff for this item type


class EmailService:
    def __init__(self, failure_rate: float, rng: random.Random | None = None) -> None:
        self.failure_rate = failure_rate
        self.rng = rng or random.Random()

    def send(self, template: str, to: str, booking_id: int) -> bool:
        """Send one e-mail; False (counted and logged, never raised) when it failed."""
        time.sleep(self.rng.uniform(0.002, 0.01))  # an HTTP call to Postmark
        try:
            if self.rng.random() < self.failure_rate:
                raise EmailError(self.rng.choice(["timeout", "422 inactive recipient", "503"]))
        except EmailError as exc:
            business.email_failed(template, exc)
            log.warning(
                "email %s failed: %s", template, exc, extra={"booking_id": booking_id, "to": to}
            )
            return False
        business.email_sent(template)
        log.info("email %s sent", template, extra={"booking_id": booking_id})
        return True

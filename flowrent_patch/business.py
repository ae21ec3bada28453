"""One-line helpers for SPEC §6.4.2 business metrics, so names and labels stay exact.

FlowRent's routes and services call these where SPEC §7.3.3 says (after a booking is
created, confirmed or cancelled; after an e-mail is sent or fails). Label values come from
small fixed sets (item types, reasons, payment methods, template names, error classes):
never put a customer or booking id in a label, it would make one series per booking.
"""

from __future__ import annotations

from flowrent_patch import metrics_client


def booking_created(rental_item_type: str) -> None:
    metrics_client.counter("booking_created_total", {"rental_item_type": rental_item_type})


def booking_confirmed(rental_item_type: str) -> None:
    metrics_client.counter("booking_confirmed_total", {"rental_item_type": rental_item_type})


def booking_cancelled(reason: str) -> None:
    metrics_client.counter("booking_cancelled_total", {"reason": reason})


def payment_received(method: str) -> None:
    metrics_client.counter("payment_received_total", {"method": method})


def email_sent(template: str) -> None:
    metrics_client.counter("email_sent_total", {"template": template})


def email_failed(template: str, error: str | BaseException) -> None:
    """``error`` is a short code or an exception (its class name is used, not its text)."""
    code = type(error).__name__ if isinstance(error, BaseException) else error
    metrics_client.counter("email_failed_total", {"template": template, "error": code})

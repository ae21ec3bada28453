"""The demo app: a small FlowRent (bookings, availability, e-mails, a scheduler).

Wired exactly as INTEGRATION.md tells FlowRent to wire itself: settings mixin,
``init_sentry`` before the app is built, the request-metrics middleware, the exception
handler, the metrics client started and flushed in the lifespan, JSON logs on stdout,
business and job metrics where SPEC §7.3.3 puts them. ``GET /_monitoring`` (demo only)
shows the clients' counters, which the end-to-end tests read to see the buffer bounded
and the drops counted while the stack is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, Field

from flowrent_patch import business, error_client, metrics_client
from flowrent_patch.demo.config import DemoSettings
from flowrent_patch.demo.scheduler import Scheduler
from flowrent_patch.demo.services import (
    INVENTORY,
    EmailService,
    quote,
    validate_booking,
)
from flowrent_patch.demo.store import BookingStore
from flowrent_patch.jsonlog import configure_json_logging
from flowrent_patch.middleware import RequestMetricsMiddleware
from flowrent_patch.sentry import init_sentry

log = logging.getLogger("app.routes.bookings")


class BookingIn(BaseModel):
    item_type: str = Field(max_length=40)
    customer_email: str = Field(max_length=200)
    customer_phone: str = Field(max_length=40)
    start_date: str = Field(max_length=10)
    days: int


class CancelIn(BaseModel):
    reason: str = Field("customer_request", max_length=40)


class PaymentIn(BaseModel):
    method: str = Field(pattern="^(card|cash|transfer)$")


def create_app(settings: DemoSettings | None = None) -> FastAPI:
    settings = settings or DemoSettings()
    configure_json_logging(settings.log_level)
    init_sentry(settings, release="flowrent-demo@1.0.0")
    errors = error_client.configure(settings)
    metrics = metrics_client.configure(settings)
    store = BookingStore(settings.demo_db_path)
    email = EmailService(settings.demo_email_failure_rate)
    scheduler = Scheduler(store, email, settings.demo_job_interval)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(scheduler.run())
        log.info("flowrent demo started", extra={"app": settings.app_name})
        async with metrics.running() if metrics else contextlib.nullcontext():
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if errors is not None:
                await errors.drain()
        log.info("flowrent demo stopped")

    app = FastAPI(title="FlowRent demo", lifespan=lifespan)
    app.add_middleware(RequestMetricsMiddleware)
    error_client.install_exception_handler(app)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/availability")
    def availability(
        item_type: Annotated[str, Query(max_length=40)] = "bike",
        on: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    ) -> dict[str, Any]:
        day = on or date.today().isoformat()
        total = INVENTORY.get(item_type)
        if total is None:
            raise HTTPException(status_code=404, detail=f"unknown item type {item_type}")
        free = max(total - store.booked(item_type, day), 0)
        return {"item_type": item_type, "date": day, "available": free}

    @app.post("/bookings", status_code=201)
    def create_booking(body: BookingIn, request: Request) -> dict[str, Any]:
        validate_booking(body.customer_email, body.start_date, body.days)
        price = quote(body.item_type, body.days)
        booking_id = store.create(
            body.item_type,
            body.customer_email,
            body.customer_phone,
            body.start_date,
            body.days,
            price,
        )
        business.booking_created(body.item_type)
        log.info(
            "Booking created",
            extra={"booking_id": booking_id, "item_type": body.item_type, "days": body.days},
        )
        return {"booking_id": booking_id, "price_eur": price, "status": "pending"}

    def booking_or_404(booking_id: int) -> dict[str, Any]:
        booking = store.get(booking_id)
        if booking is None:
            raise HTTPException(status_code=404, detail=f"booking {booking_id} not found")
        return booking

    @app.get("/bookings/{booking_id}")
    def get_booking(booking_id: int) -> dict[str, Any]:
        booking = booking_or_404(booking_id)
        return {k: booking[k] for k in ("id", "item_type", "start_date", "days", "status")}

    @app.post("/bookings/{booking_id}/confirm")
    def confirm_booking(booking_id: int) -> dict[str, Any]:
        booking = booking_or_404(booking_id)
        if booking["status"] != "pending":
            raise HTTPException(status_code=409, detail=f"booking is {booking['status']}")
        store.set_status(booking_id, "confirmed")
        business.booking_confirmed(booking["item_type"])
        log.info("Booking confirmed", extra={"booking_id": booking_id})
        sent = email.send("booking_confirmation", booking["customer_email"], booking_id)
        return {"booking_id": booking_id, "status": "confirmed", "email_sent": sent}

    @app.post("/bookings/{booking_id}/cancel")
    def cancel_booking(booking_id: int, body: CancelIn) -> dict[str, Any]:
        booking = booking_or_404(booking_id)
        if booking["status"] == "cancelled":
            raise HTTPException(status_code=409, detail="booking is already cancelled")
        store.set_status(booking_id, "cancelled")
        business.booking_cancelled(body.reason)
        log.info("Booking cancelled", extra={"booking_id": booking_id, "reason": body.reason})
        return {"booking_id": booking_id, "status": "cancelled"}

    @app.post("/bookings/{booking_id}/payment")
    def mark_paid(booking_id: int, body: PaymentIn) -> dict[str, Any]:
        booking_or_404(booking_id)
        store.set_paid(booking_id, body.method)
        business.payment_received(body.method)
        log.info("Payment received", extra={"booking_id": booking_id, "method": body.method})
        return {"booking_id": booking_id, "paid_with": body.method}

    @app.get("/_monitoring")
    def monitoring() -> dict[str, Any]:
        return {
            "metrics": metrics.stats() if metrics else None,
            "errors": {"sent": errors.sent, "failed": errors.failed} if errors else None,
        }

    return app


def app_from_env() -> FastAPI:
    """``uvicorn --factory flowrent_patch.demo.app:app_from_env``: settings from env."""
    return create_app(DemoSettings())

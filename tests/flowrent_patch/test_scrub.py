from __future__ import annotations

import pytest

from flowrent_patch.scrub import FILTERED, drop_headers, is_sensitive_key, scrub, scrub_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Booking 123456789 for maria.garcia@example.com", "Booking 123456789 for [email]"),
        ("call +34 612 345 678 now", "call [phone] now"),
        ("tel 612 345 678", "tel [phone]"),
        ("0034612345678", "[phone]"),
        ("612-34-56-78", "[phone]"),
        ("(+34) 96 123 45 67", "[phone]"),
        ("lives at Calle de Colón 12, 3º B, Valencia", "lives at [address], Valencia"),
        ("C/ Sueca, 45", "[address]"),
        ("Avda. del Puerto 180 46023", "[address] 46023"),
        ("221B Baker Street", "[address]"),
        ("Plaza del Ayuntamiento 1", "[address]"),
    ],
)
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "/bookings/612345678/confirm",
        "booking_id=123456789",
        "ip 192.168.100.200 ok",
        "date 2025-01-23 12:00",
        "2025-01-23T15:30:00.123456Z",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "trace 19247b43367b42cc9aef967cc0c17b9f",
        "version 2.75.0 took 0.123 s",
        "rental period must be between 1 and 30 days",
        'File "/app/app/routes/bookings.py", line 142, in create_booking',
        "sent via email 3 times, failed 2 requests on the way",
    ],
)
def test_internal_ids_and_ordinary_text_survive(text: str) -> None:
    assert scrub_text(text) == text


def test_keys_naming_personal_data_are_filtered_but_ids_kept() -> None:
    data = {
        "booking_id": 612345678,
        "user_id": "42",
        "customer_email": "a@b.es",
        "phone": "+34 600 000 000",
        "password": "hunter2",
        "nested": [{"address": "Calle Mayor 1", "note": "ring a@b.es"}],
        "bookingId": 7,
        "template": "booking_confirmation",
        "empty_email": None,
    }
    out = scrub(data)
    assert out["booking_id"] == 612345678
    assert out["user_id"] == "42"
    assert out["bookingId"] == 7
    assert out["template"] == "booking_confirmation"
    assert out["customer_email"] == FILTERED
    assert out["phone"] == FILTERED
    assert out["password"] == FILTERED
    assert out["nested"] == [{"address": FILTERED, "note": "ring [email]"}]
    assert out["empty_email"] is None
    assert data["customer_email"] == "a@b.es", "input is not mutated"


@pytest.mark.parametrize("key", ["user_id", "x-session-id", "ids", "job_name", "reason", "hotel"])
def test_not_sensitive(key: str) -> None:
    assert not is_sensitive_key(key)


def test_credential_headers_are_dropped_not_masked() -> None:
    headers = {"Authorization": "Bearer x", "cookie": "s=1", "X-API-Key": "k", "User-Agent": "t"}
    assert drop_headers(headers) == {"User-Agent": "t"}


def test_deep_nesting_is_bounded() -> None:
    value: object = "a@b.es"
    for _ in range(100):
        value = {"k": value}
    out = scrub(value)
    for _ in range(20):
        assert isinstance(out, dict)
        out = out["k"]
    assert out == FILTERED

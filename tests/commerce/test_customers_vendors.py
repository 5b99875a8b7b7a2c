"""Customers (emails, argon2 passwords, addresses) and vendors on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import anyio
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from dropkit.commerce.customers import Address, Customers, normalize_email
from dropkit.commerce.vendors import Vendors, VendorStatus
from dropkit.core.database import Database
from dropkit.core.errors import ConflictError, NotFoundError, ValidationError
from dropkit.core.events import EventBus

Snapshot = Callable[[], Awaitable[dict[str, int]]]

HOME = {"name": "Ada Lovelace", "line1": "1 Main St", "city": "Lyon", "country": "fr"}

# -- emails (pure) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("  ada@example.com ", "ada@example.com"),
        ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("x@xn--bcher-kva.example", "x@xn--bcher-kva.example"),
        ("a@b-c.io", "a@b-c.io"),
    ],
)
def test_valid_emails_are_normalised(raw: str, normalised: str) -> None:
    assert normalize_email(raw) == normalised


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plainaddress",
        "@example.com",
        "ada@",
        "ada@@example.com",
        "ada@exa mple.com",
        "ada lovelace@example.com",
        "ada@example",
        "ada@example.c",
        "ada@example.123",
        ".ada@example.com",
        "ada.@example.com",
        "a..b@example.com",
        "ada@-example.com",
        "ada@example-.com",
        "ada@example..com",
        '"quoted"@example.com',
        "ada@[127.0.0.1]",
        "adà@example.com",
        "ada@exämple.com",
        "ada@exam\nple.com",
        "ada\x00@example.com",
        ("a" * 65) + "@example.com",
        "a@" + ("b" * 64) + ".com",
        "a@" + ".".join(["abcdefghij"] * 25) + ".com",
    ],
)
def test_malformed_emails_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="email"):
        normalize_email(bad)


def test_addresses_validate_country_codes() -> None:
    assert Address(**HOME).country == "FR"
    with pytest.raises(ValidationError, match="ISO 3166"):
        Address(**{**HOME, "country": "XX"})
    with pytest.raises(ValidationError, match="line1"):
        Address(**{**HOME, "line1": ""})


# -- customers --------------------------------------------------------------------------------


async def test_register_hashes_the_password_and_authenticates(
    customers: Customers, store_db: Database
) -> None:
    customer = await customers.register(
        "Ada@Example.com", name="Ada", password="correct horse battery", addresses=[HOME]
    )
    assert customer.id.startswith("cus_")
    assert customer.email == "ada@example.com" and customer.has_password
    assert customer.addresses == (Address(**HOME),)
    stored = await store_db.fetchval(
        "SELECT password_hash FROM commerce_customers WHERE id = {}", customer.id
    )
    assert stored.startswith("$argon2id$") and "correct horse" not in stored

    assert await customers.authenticate("ADA@example.com ", "correct horse battery") == customer
    assert await customers.authenticate("ada@example.com", "wrong password") is None
    assert await customers.authenticate("nobody@example.com", "correct horse battery") is None
    assert await customers.authenticate("not an email", "correct horse battery") is None
    assert await customers.authenticate("ada@example.com", "x" * 5000) is None

    guest = await customers.register("guest@example.com")
    assert not guest.has_password
    assert await customers.authenticate("guest@example.com", "anything at all") is None
    with_password = await customers.set_password(guest.id, "now I have one")
    assert with_password.has_password
    assert await customers.authenticate("guest@example.com", "now I have one") is not None


async def test_weak_hashes_are_upgraded_at_login(
    store_db: Database, bus: EventBus, customers: Customers
) -> None:
    weak = Customers(
        store_db, bus, password_hash=PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192),))
    )
    customer = await weak.register("old@example.com", password="legacy password")
    query = "SELECT password_hash FROM commerce_customers WHERE id = {}"
    old_hash = await store_db.fetchval(query, customer.id)
    assert "m=8192" in old_hash
    assert await customers.authenticate("old@example.com", "legacy password") is not None
    new_hash = await store_db.fetchval(query, customer.id)
    assert new_hash != old_hash and "m=65536" in new_hash
    assert await customers.authenticate("old@example.com", "legacy password") is not None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b.co", "password": "short"}, "password"),
        ({"email": "a@b.co", "addresses": [{**HOME, "country": "ZZ"}]}, "ISO 3166"),
        ({"email": "a@b.co", "addresses": [{**HOME, "colour": "red"}]}, "colour"),
        ({"email": "a@b.co", "addresses": [HOME] * 21}, "at most 20"),
        ({"email": "a@b.co", "name": "n" * 201}, "name"),
    ],
)
async def test_bad_registrations_write_nothing(
    customers: Customers, snapshot: Snapshot, arguments: dict[str, Any], message: str
) -> None:
    before = await snapshot()
    with pytest.raises(ValidationError, match=message):
        await customers.register(**arguments)
    assert await snapshot() == before


async def test_duplicate_emails_conflict_even_when_concurrent(
    customers: Customers, store_db: Database
) -> None:
    await customers.register("dup@example.com")
    with pytest.raises(ConflictError, match=r"dup@example\.com"):
        await customers.register("DUP@example.com")

    outcomes: list[str] = []

    async def register() -> None:
        try:
            await customers.register("race@example.com")
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(register)
    assert sorted(outcomes) == ["conflict"] * 9 + ["ok"]
    assert (
        await store_db.fetchval("SELECT COUNT(*) FROM commerce_customers WHERE email LIKE 'race%'")
        == 1
    )


async def test_lookups_and_address_book(customers: Customers, snapshot: Snapshot) -> None:
    customer = await customers.register("book@example.com")
    assert (await customers.get(customer.id)).email == "book@example.com"
    assert (await customers.get_by_email(" Book@Example.com")).id == customer.id
    with pytest.raises(NotFoundError):
        await customers.get("cus_missing")
    with pytest.raises(NotFoundError):
        await customers.get_by_email("missing@example.com")

    updated = await customers.add_address(customer.id, HOME)
    updated = await customers.add_address(
        customer.id, Address(name="Work", line1="2 Rue", city="Paris", country="FR")
    )
    assert [a.name for a in updated.addresses] == ["Ada Lovelace", "Work"]
    before = await snapshot()
    with pytest.raises(ValidationError):
        await customers.add_address(customer.id, {**HOME, "country": "France"})
    with pytest.raises(NotFoundError):
        await customers.add_address("cus_missing", HOME)
    assert await snapshot() == before


# -- vendors ----------------------------------------------------------------------------------


async def test_vendor_lifecycle(vendors: Vendors) -> None:
    vendor = await vendors.create("Acme Goods & Co", commission_rate="0.125", email="Shop@Acme.io")
    assert vendor.id.startswith("ven_") and vendor.slug == "acme-goods-co"
    assert vendor.commission_rate == Decimal("0.125")
    assert vendor.email == "shop@acme.io" and vendor.status is VendorStatus.ACTIVE
    assert (await vendors.get_by_slug("acme-goods-co")).id == vendor.id
    assert (await vendors.get(vendor.id)) == vendor

    other = await vendors.create("Zeta", slug="zeta-shop", commission_rate=Decimal(0))
    suspended = await vendors.suspend(other.id)
    assert suspended.status is VendorStatus.SUSPENDED
    assert [v.id for v in await vendors.list()] == [vendor.id, other.id]
    assert [v.id for v in await vendors.list(status="suspended")] == [other.id]
    assert (await vendors.activate(other.id)).status is VendorStatus.ACTIVE
    with pytest.raises(NotFoundError):
        await vendors.suspend("ven_missing")
    with pytest.raises(ConflictError):
        await vendors.create("Zeta Shop")  # slug zeta-shop is taken


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"commission_rate": "1.5"}, "between 0 and 1"),
        ({"commission_rate": -1}, "between 0 and 1"),
        ({"commission_rate": 0.1}, "float"),
        ({"commission_rate": "abc"}, "not a number"),
        ({"commission_rate": "NaN"}, "between 0 and 1"),
        ({"commission_rate": "0.1234567"}, "6 decimals"),
        ({"email": "nope"}, "email"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"name": " "}, "name"),
    ],
)
async def test_bad_vendors_write_nothing(
    vendors: Vendors, snapshot: Snapshot, arguments: dict[str, Any], message: str
) -> None:
    before = await snapshot()
    with pytest.raises(ValidationError, match=message):
        await vendors.create(**{"name": "Shop", **arguments})
    assert await snapshot() == before

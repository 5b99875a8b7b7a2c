"""Customers: an email (unique, lowercase), a name, addresses and an optional password.

Passwords are hashed with argon2id through pwdlib (``PasswordHash.recommended()``), off the event
loop because a hash takes tens of milliseconds of CPU on purpose. Hashes made with older
parameters are upgraded transparently at the next successful login.

Emails are checked by a deliberately strict, dependency-free validator (``local@domain.tld``,
ASCII, RFC 5321 length limits): a store must be able to send to the address, so exotic but
technically valid forms (quoted local parts, IP-literal domains) are refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import anyio.to_thread
from pwdlib import PasswordHash
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dropkit.commerce._records import InputModel, from_json, from_ts, new_id
from dropkit.core.database import Database, Row
from dropkit.core.errors import ConflictError, IntegrityError, NotFoundError, ValidationError
from dropkit.core.events import EventBus
from dropkit.core.jsontext import dumps_strict

__all__ = ["COUNTRY_CODES", "Address", "Customer", "Customers", "normalize_email"]

COUNTRY_CODES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 - a table reads better than 249 quoted items
)
"""The ISO 3166-1 alpha-2 country codes (249 officially assigned)."""

_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_MIN_PASSWORD = 8
_MAX_PASSWORD = 1024  # argon2 takes any length; this only stops denial-of-service payloads
_MAX_ADDRESSES = 20


def normalize_email(email: str) -> str:
    """``email`` trimmed and lowercased, or :class:`ValidationError` saying what is wrong."""
    if not isinstance(email, str):
        raise ValidationError(f"email must be a string, not {type(email).__name__}")
    address = email.strip().lower()
    if not address:
        raise ValidationError("email must not be empty")
    if len(address) > 254:
        raise ValidationError("email is longer than 254 characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in address):
        raise ValidationError(f"email {email!r} contains spaces or control characters")
    if not address.isascii():
        raise ValidationError(
            f"email {email!r} must be ASCII (internationalised addresses are not supported)"
        )
    if address.count("@") != 1:
        raise ValidationError(f"email {email!r} must contain exactly one '@'")
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        raise ValidationError(f"email {email!r} has an invalid part before the '@'")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValidationError(f"email {email!r} has an invalid domain (expected name.tld)")
    if not _TLD.match(labels[-1]):
        raise ValidationError(f"email {email!r} has an invalid top-level domain")
    return address


class Address(InputModel):
    """A postal address; ``country`` is an ISO 3166-1 alpha-2 code (``"fr"`` becomes ``"FR"``)."""

    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str = Field(default="", max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=20)
    country: str

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        code = value.upper()
        if code not in COUNTRY_CODES:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return code


class Customer(BaseModel):
    """A customer; the password hash never leaves the service (``has_password`` tells)."""

    model_config = ConfigDict(frozen=True)

    id: str
    email: str
    name: str
    addresses: tuple[Address, ...]
    has_password: bool
    created_at: datetime
    updated_at: datetime


def _customer(row: Row) -> Customer:
    return Customer(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        addresses=tuple(Address(**a) for a in from_json(row["addresses"])),
        has_password=row["password_hash"] is not None,
        created_at=from_ts(row["created_at"]),
        updated_at=from_ts(row["updated_at"]),
    )


def _password(password: str) -> str:
    if not isinstance(password, str):
        raise ValidationError("password must be a string")
    if not _MIN_PASSWORD <= len(password) <= _MAX_PASSWORD:
        raise ValidationError(
            f"password must be {_MIN_PASSWORD} to {_MAX_PASSWORD} characters long"
        )
    return password


class Customers:
    """Registers customers, checks their passwords and keeps their addresses."""

    def __init__(
        self,
        database: Database,
        events: EventBus,
        *,
        clock: Callable[[], float] = time.time,
        password_hash: PasswordHash | None = None,
    ) -> None:
        self._db = database
        self._events = events
        self._clock = clock
        self._hasher = password_hash if password_hash is not None else PasswordHash.recommended()
        self._dummy_hash: str | None = None

    async def register(
        self,
        email: str,
        *,
        name: str = "",
        password: str | None = None,
        addresses: Sequence[Address | Mapping[str, Any]] = (),
    ) -> Customer:
        """A new customer; an email already registered is a :class:`ConflictError`."""
        address = normalize_email(email)
        if not isinstance(name, str) or len(name.strip()) > 200:
            raise ValidationError("name must be a string of at most 200 characters")
        book = [Address.coerce(a) for a in addresses]
        if len(book) > _MAX_ADDRESSES:
            raise ValidationError(f"at most {_MAX_ADDRESSES} addresses")
        hashed = None
        if password is not None:
            hashed = await anyio.to_thread.run_sync(self._hasher.hash, _password(password))
        now = self._clock()
        customer_id = new_id("cus")
        async with self._db.transaction():
            if await self._db.fetchval(
                "SELECT id FROM commerce_customers WHERE email = {}", address
            ):
                raise ConflictError(f"a customer with email {address} already exists")
            try:
                await self._db.execute(
                    "INSERT INTO commerce_customers (id, email, name, password_hash, addresses,"
                    " created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
                    customer_id,
                    address,
                    name.strip(),
                    hashed,
                    dumps_strict([a.model_dump() for a in book]),
                    now,
                    now,
                )
            except IntegrityError as exc:  # registered concurrently since the check
                raise ConflictError(f"a customer with email {address} already exists") from exc
        return await self.get(customer_id)

    async def get(self, customer_id: str) -> Customer:
        row = await self._db.fetchrow("SELECT * FROM commerce_customers WHERE id = {}", customer_id)
        if row is None:
            raise NotFoundError(f"no customer {customer_id!r}")
        return _customer(row)

    async def get_by_email(self, email: str) -> Customer:
        address = normalize_email(email)
        row = await self._db.fetchrow("SELECT * FROM commerce_customers WHERE email = {}", address)
        if row is None:
            raise NotFoundError(f"no customer with email {address}")
        return _customer(row)

    async def authenticate(self, email: str, password: str) -> Customer | None:
        """The customer if ``password`` is theirs, else None (never says which part was wrong).

        An unknown email still costs one hash verification, so response time does not reveal
        which emails are registered.
        """
        try:
            address = normalize_email(email)
        except ValidationError:
            address = None
        row = None
        if address is not None:
            row = await self._db.fetchrow(
                "SELECT * FROM commerce_customers WHERE email = {}", address
            )
        if not isinstance(password, str) or len(password) > _MAX_PASSWORD:
            return None
        if row is None or row["password_hash"] is None:
            await anyio.to_thread.run_sync(self._hasher.verify, password, await self._dummy())
            return None
        valid, updated = await anyio.to_thread.run_sync(
            self._hasher.verify_and_update, password, row["password_hash"]
        )
        if not valid:
            return None
        if updated is not None:
            await self._db.execute(
                "UPDATE commerce_customers SET password_hash = {} WHERE id = {}",
                updated,
                row["id"],
            )
        return _customer(row)

    async def set_password(self, customer_id: str, password: str) -> Customer:
        """Set or replace the customer's password."""
        hashed = await anyio.to_thread.run_sync(self._hasher.hash, _password(password))
        row = await self._db.fetchrow(
            "UPDATE commerce_customers SET password_hash = {}, updated_at = {} WHERE id = {}"
            " RETURNING *",
            hashed,
            self._clock(),
            customer_id,
        )
        if row is None:
            raise NotFoundError(f"no customer {customer_id!r}")
        return _customer(row)

    async def add_address(self, customer_id: str, address: Address | Mapping[str, Any]) -> Customer:
        """Append an address to the customer's address book."""
        entry = Address.coerce(address)
        lock = " FOR UPDATE" if self._db.dialect == "postgres" else ""
        async with self._db.transaction():
            row = await self._db.fetchrow(
                f"SELECT addresses FROM commerce_customers WHERE id = {{}}{lock}", customer_id
            )
            if row is None:
                raise NotFoundError(f"no customer {customer_id!r}")
            book = list(from_json(row["addresses"]))
            if len(book) >= _MAX_ADDRESSES:
                raise ValidationError(f"at most {_MAX_ADDRESSES} addresses")
            book.append(entry.model_dump())
            await self._db.execute(
                "UPDATE commerce_customers SET addresses = {}, updated_at = {} WHERE id = {}",
                dumps_strict(book),
                self._clock(),
                customer_id,
            )
        return await self.get(customer_id)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await anyio.to_thread.run_sync(
                self._hasher.hash, "dropkit-timing-equaliser"
            )
        return self._dummy_hash

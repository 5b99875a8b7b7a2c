"""A small Stripe stand-in speaking its wire format, served by uvicorn on loopback.

It implements what the gateway uses (PaymentIntents create / retrieve / confirm / capture /
cancel, refunds) with Stripe's rules: Bearer auth, form-encoded bodies, amounts in Stripe's
units (three-decimal currencies must end in 0), idempotency keys that replay the first response
for the same parameters and refuse different ones with ``idempotency_error``, and
``{"error": {...}}`` bodies. ``fail_next`` makes the next requests fail with a 500 that is not
stored under the key, as Stripe does, to exercise retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

API_KEY = "sk_test_dropkit"
WEBHOOK_SECRET = "whsec_test_dropkit_secret"
MINIMUM = {"usd": 50, "eur": 50, "jpy": 50, "kwd": 500}
THREE_DECIMAL = {"bhd", "jod", "kwd", "omr", "tnd"}
CANCELLABLE = {
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
}


def stripe_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value Stripe would send for ``body``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event_body(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    """A Stripe event envelope around ``obj``, as sent to a webhook endpoint."""
    return json.dumps(
        {
            "id": event_id or f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


def _error(status: int, error_type: str, message: str, code: str | None = None) -> JSONResponse:
    detail: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        detail["code"] = code
    return JSONResponse({"error": detail}, status_code=status)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeStripe:
    url: str = ""
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    failures: int = 0
    cancel_outage: bool = False
    """While set, every cancel answers HTTP 500 (that part of Stripe is down)."""
    refund_status: str = "succeeded"
    """What a new refund's ``status`` is (``pending`` for a bank that confirms later)."""
    _replays: dict[str, tuple[str, int, bytes]] = field(default_factory=dict)

    def fail_next(self, times: int = 1) -> None:
        """Answer the next ``times`` API requests with HTTP 500 (not stored under the key)."""
        self.failures = times

    def charge_object(self, intent_id: str) -> dict[str, Any]:
        """The Charge behind an intent, as ``charge.refunded`` carries it."""
        intent = self.intents[intent_id]
        return {
            "id": f"ch_{intent_id[3:]}",
            "object": "charge",
            "payment_intent": intent_id,
            "amount": intent["amount"],
            "amount_captured": intent["amount_received"],
            "amount_refunded": intent["_refunded"],
            "currency": intent["currency"],
            "refunded": intent["_refunded"] == intent["amount_received"],
        }

    def webhook(self, event_type: str, intent_id: str) -> tuple[dict[str, str], bytes]:
        """A signed delivery of ``event_type`` about the intent as it is now."""
        obj = self.public(intent_id)
        if event_type.startswith("charge."):
            obj = self.charge_object(intent_id)
        body = event_body(event_type, obj)
        return {"Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body)}, body

    def refund_webhook(
        self, refund_id: str, status: str, event_type: str = "refund.updated"
    ) -> tuple[dict[str, str], bytes]:
        """The refund moves to ``status``; a signed delivery saying so."""
        refund = self.refunds[refund_id]
        if status in ("failed", "canceled") and refund["status"] not in ("failed", "canceled"):
            self.intents[refund["payment_intent"]]["_refunded"] -= refund["amount"]
        refund["status"] = status
        body = event_body(event_type, dict(refund))
        return {"Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body)}, body

    def calls(self, method: str, path: str) -> list[Seen]:
        """The requests seen for ``method`` and ``path``."""
        return [seen for seen in self.requests if seen.method == method and seen.path == path]

    def public(self, intent_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.intents[intent_id].items() if not k.startswith("_")}

    def refund_directly(self, intent_id: str, minor: int) -> None:
        """A refund made in the Stripe dashboard, behind the store's back."""
        self.intents[intent_id]["_refunded"] += minor

    # -- HTTP -----------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/payment_intents", self.create_intent, methods=["POST"]),
                Route("/v1/payment_intents/{id}", self.retrieve, methods=["GET"]),
                Route("/v1/payment_intents/{id}/cancel", self.cancel, methods=["POST"]),
                Route("/v1/payment_intents/{id}/confirm", self.confirm, methods=["POST"]),
                Route("/v1/payment_intents/{id}/capture", self.capture, methods=["POST"]),
                Route("/v1/refunds", self.refund, methods=["POST"]),
            ]
        )

    async def _guard(self, request: Request) -> tuple[dict[str, str], Response | None, str]:
        # Parsed by hand: this checks the raw bytes are what Stripe accepts.
        form = dict(parse_qsl((await request.body()).decode("ascii"), keep_blank_values=True))
        self.requests.append(Seen(request.method, request.url.path, dict(request.headers), form))
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return form, _error(401, "invalid_request_error", "Invalid API Key provided"), ""
        if self.failures:
            self.failures -= 1
            return form, _error(500, "api_error", "Something went wrong on Stripe's end."), ""
        key = request.headers.get("idempotency-key", "")
        fingerprint = json.dumps([request.url.path, sorted(form.items())])
        if key and key in self._replays:
            stored_fingerprint, status, body = self._replays[key]
            if stored_fingerprint != fingerprint:
                return (
                    form,
                    _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    ),
                    "",
                )
            replay = Response(body, status, media_type="application/json")
            replay.headers["Idempotent-Replayed"] = "true"
            return form, replay, ""
        return form, None, key

    def _store(
        self, key: str, request: Request, form: dict[str, str], response: Response
    ) -> Response:
        if key:
            fingerprint = json.dumps([request.url.path, sorted(form.items())])
            self._replays[key] = (fingerprint, response.status_code, bytes(response.body))
        return response

    async def create_intent(self, request: Request) -> Response:
        form, early, key = await self._guard(request)
        if early is not None:
            return early
        response = self._create(form)
        return self._store(key, request, form, response)

    def _create(self, form: dict[str, str]) -> Response:
        try:
            amount = int(form["amount"])
            currency = form["currency"]
        except (KeyError, ValueError):
            return _error(400, "invalid_request_error", "Missing required param: amount.")
        if currency != currency.lower() or currency not in MINIMUM:
            return _error(400, "invalid_request_error", f"Invalid currency: {currency}.")
        if currency in THREE_DECIMAL and amount % 10:
            return _error(
                400,
                "invalid_request_error",
                f"Amounts in {currency} must be divisible by 10 (the last digit must be 0).",
                code="invalid_amount",
            )
        if amount < MINIMUM[currency]:
            return _error(
                400,
                "invalid_request_error",
                "Amount must be at least $0.50 usd",
                code="amount_too_small",
            )
        intent_id = f"pi_{secrets.token_hex(12)}"
        self.intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "amount_capturable": 0,
            "currency": currency,
            "capture_method": form.get("capture_method", "automatic"),
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "metadata": {
                k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")
            },
            "receipt_email": form.get("receipt_email"),
            "status": "requires_payment_method",
            "_refunded": 0,
        }
        return JSONResponse(self.public(intent_id))

    async def retrieve(self, request: Request) -> Response:
        _, early, _ = await self._guard(request)
        if early is not None:
            return early
        if request.path_params["id"] not in self.intents:
            return _error(
                404, "invalid_request_error", "No such payment_intent", "resource_missing"
            )
        return JSONResponse(self.public(request.path_params["id"]))

    async def cancel(self, request: Request) -> Response:
        form, early, key = await self._guard(request)
        if early is not None:
            return early
        if self.cancel_outage:
            return _error(500, "api_error", "Something went wrong on Stripe's end.")
        intent = self.intents.get(request.path_params["id"])
        if intent is None:
            return _error(
                404, "invalid_request_error", "No such payment_intent", "resource_missing"
            )
        if intent["status"] not in CANCELLABLE:
            response = _error(
                400,
                "invalid_request_error",
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{intent['status']}.",
                "payment_intent_unexpected_state",
            )
            return self._store(key, request, form, response)
        intent["status"] = "canceled"
        intent["amount_capturable"] = 0
        intent["cancellation_reason"] = form.get("cancellation_reason")
        return self._store(key, request, form, JSONResponse(self.public(intent["id"])))

    async def confirm(self, request: Request) -> Response:
        """What Stripe.js does in the browser with the client secret."""
        form, early, key = await self._guard(request)
        if early is not None:
            return early
        intent = self.intents.get(request.path_params["id"])
        if intent is None:
            return _error(
                404, "invalid_request_error", "No such payment_intent", "resource_missing"
            )
        if form.get("payment_method") == "pm_card_chargeDeclined":
            intent["status"] = "requires_payment_method"
            response = _error(402, "card_error", "Your card was declined.", "card_declined")
        else:
            if intent["capture_method"] == "manual":
                intent["status"] = "requires_capture"
                intent["amount_capturable"] = intent["amount"]
            else:
                intent["status"] = "succeeded"
                intent["amount_received"] = intent["amount"]
            response = JSONResponse(self.public(intent["id"]))
        return self._store(key, request, form, response)

    async def capture(self, request: Request) -> Response:
        form, early, key = await self._guard(request)
        if early is not None:
            return early
        intent = self.intents.get(request.path_params["id"])
        if intent is None:
            return _error(
                404, "invalid_request_error", "No such payment_intent", "resource_missing"
            )
        if intent["status"] != "requires_capture":
            response = _error(
                400,
                "invalid_request_error",
                f"This PaymentIntent could not be captured because it has a status of "
                f"{intent['status']}.",
                "payment_intent_unexpected_state",
            )
            return self._store(key, request, form, response)
        to_capture = int(form.get("amount_to_capture", intent["amount"]))
        if to_capture > intent["amount"]:
            response = _error(
                400, "invalid_request_error", "amount_to_capture is too large", "amount_too_large"
            )
            return self._store(key, request, form, response)
        intent["status"] = "succeeded"
        intent["amount_received"] = to_capture
        intent["amount_capturable"] = 0
        return self._store(key, request, form, JSONResponse(self.public(intent["id"])))

    async def refund(self, request: Request) -> Response:
        form, early, key = await self._guard(request)
        if early is not None:
            return early
        intent = self.intents.get(form.get("payment_intent", ""))
        if intent is None:
            return _error(
                404, "invalid_request_error", "No such payment_intent", "resource_missing"
            )
        left = intent["amount_received"] - intent["_refunded"]
        amount = int(form.get("amount", left))
        if intent["status"] != "succeeded" or amount > left:
            response = _error(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                "amount_too_large" if left else "charge_already_refunded",
            )
            return self._store(key, request, form, response)
        intent["_refunded"] += amount
        refund_id = f"re_{secrets.token_hex(12)}"
        self.refunds[refund_id] = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "status": self.refund_status,
        }
        return self._store(key, request, form, JSONResponse(self.refunds[refund_id]))


@asynccontextmanager
async def serve(fake: FakeStripe) -> AsyncIterator[FakeStripe]:
    """Run ``fake`` under uvicorn on 127.0.0.1 (a free port) for the duration of the block."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fake.app(), lifespan="off", log_level="warning", access_log=False, http="h11"
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(10):
            while not server.started:
                await anyio.sleep(0.01)
        fake.url = f"http://127.0.0.1:{port}"
        yield fake
    finally:
        server.should_exit = True
        await task
        sock.close()


async def confirm_intent(server: FakeStripe, intent_id: str, card: str = "pm_card_visa") -> int:
    """Confirm the intent as Stripe.js would in the customer's browser; the HTTP status."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.post(
            f"{server.url}/v1/payment_intents/{intent_id}/confirm",
            data={"payment_method": card},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
    return answer.status_code

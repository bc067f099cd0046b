"""The Purple Flea profile: every route classified, on the real hosts and on loopback."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from guard._model import Kind, Operation
from guard._profile import (
    RULES,
    Profile,
    Rule,
    classify,
    counts_as_error,
    is_auth_failure,
    settlement_rule,
)
from tests.conftest import CASINO, ESCROW, FAUCET, TRADING, bearer, casino_agent

R, RI, RR, T = Kind.READ, Kind.RISK_INCREASING, Kind.RISK_REDUCING, Kind.TRANSFER
LOOPBACK = "127.0.0.1:8765"
GAMES = [
    *("coin-flip", "dice", "multiplier", "crash", "roulette", "custom", "blackjack", "plinko"),
    *("slots", "simple-dice", "hilo", "keno", "wheel", "scratch-card", "mines", "baccarat"),
]
EVERYWHERE = [
    ("GET", "/health", "health", R),
    ("GET", "/ping", "ping", R),
    ("GET", "/openapi.json", "docs", R),
    ("GET", "/llms.txt", "docs", R),
]

# (service, method, real path, operation, kind): every route of the API.
ROUTES: list[tuple[str, str, str, str, Kind]] = [
    *(
        ("casino", method, "/api/v1" + path, name, kind)
        for method, path, name, kind in [
            ("POST", "/auth/register", "register", R),
            ("GET", "/auth/balance", "balance", R),
            ("POST", "/auth/deposit-address", "deposit_address", R),
            ("POST", "/auth/withdraw", "withdraw", T),
            ("GET", "/auth/ledger", "ledger", R),
            ("GET", "/auth/deposits", "deposits", R),
            ("GET", "/auth/withdrawals", "withdrawals", R),
            ("GET", "/auth/referral/code", "referral_code", R),
            ("GET", "/auth/referral/stats", "referral_stats", R),
            ("GET", "/games", "games", R),
            *(("POST", f"/games/{game}", "bet", RI) for game in GAMES),
            ("POST", "/games/video-poker/deal", "bet_step", RI),
            ("POST", "/games/video-poker/draw", "bet_step", RI),
            ("POST", "/bets/batch", "batch", RI),
            ("GET", "/bets/history", "history", R),
            ("GET", "/kelly/limits", "kelly_limits", R),
            ("PUT", "/kelly/config", "kelly_config", R),
            ("POST", "/kelly/simulate", "kelly_simulate", R),
            ("GET", "/fairness/seed-hash", "seed_hash", R),
            ("POST", "/fairness/verify", "fairness_verify", R),
            ("GET", "/fairness/verify", "fairness_verify", R),
            ("POST", "/fairness/rotate", "fairness_rotate", R),
            ("POST", "/daily/claim", "daily_claim", T),
            ("POST", "/demo", "demo", R),
            ("GET", "/stats/me", "stats", R),
            ("GET", "/stats/session", "stats", R),
            ("GET", "/stats/leaderboard", "stats", R),
            ("GET", "/gossip", "gossip", R),
        ]
    ),
    *(
        ("trading", method, "/v1" + path, name, kind)
        for method, path, name, kind in [
            ("POST", "/auth/register", "register", R),
            ("GET", "/auth/account", "account", R),
            ("GET", "/markets", "markets", R),
            ("GET", "/markets/BTC", "market", R),
            ("GET", "/markets/xyz:TSLA/price", "price", R),
            ("POST", "/trade/open", "trade_open", RI),
            ("POST", "/trade/close", "trade_close", RR),
            ("GET", "/trade/positions", "positions", R),
            ("GET", "/trade/history", "history", R),
            ("POST", "/trade/risk-settings", "risk_settings", R),
            ("POST", "/trade/limit", "limit_order", RI),
            ("GET", "/trade/limit-orders", "limit_orders", R),
            ("DELETE", "/trade/limit-orders/ord_1", "limit_cancel", RR),
            ("POST", "/trade/stop-loss", "stop_loss", RR),
            ("POST", "/trade/take-profit", "take_profit", RR),
            ("GET", "/gossip", "gossip", R),
        ]
    ),
    *(
        ("wallet", method, "/v1" + path, name, kind)
        for method, path, name, kind in [
            ("POST", "/auth/register", "register", R),
            ("POST", "/wallet/create", "wallet_create", R),
            ("GET", "/wallet/balance/0xabc", "wallet_balance", R),
            ("POST", "/wallet/send", "wallet_send", T),
            ("GET", "/wallet/swap/quote", "swap_quote", R),
            ("POST", "/wallet/swap", "swap", RI),
            ("GET", "/wallet/swap/status/o1", "swap_status", R),
            ("GET", "/referral/code", "referral_code", R),
            ("GET", "/referral/stats", "referral_stats", R),
            ("POST", "/referral/withdraw", "referral_withdraw", T),
            ("GET", "/gossip", "gossip", R),
        ]
    ),
    ("escrow", "POST", "/escrow/create", "escrow_create", RI),
    ("escrow", "POST", "/escrow/complete/esc_1", "escrow_complete", T),
    ("escrow", "POST", "/escrow/release/esc_1", "escrow_release", T),
    ("escrow", "POST", "/escrow/dispute/esc_1", "escrow_dispute", T),
    ("escrow", "GET", "/escrow/stats", "escrow_stats", R),
    ("escrow", "GET", "/escrow/esc_1", "escrow_get", R),
    ("faucet", "POST", "/faucet/claim", "faucet_claim", T),
    ("faucet", "GET", "/faucet/stats", "faucet_stats", R),
    ("domains", "POST", "/register", "register", R),
    ("domains", "GET", "/search", "search", R),
    ("domains", "GET", "/tlds", "tlds", R),
    ("domains", "POST", "/wallet/deposit", "deposit_address", R),
    ("domains", "GET", "/wallet/balance", "wallet_balance", R),
    ("domains", "POST", "/domains/purchase", "domain_purchase", RI),
    ("domains", "GET", "/domains", "domains", R),
    ("domains", "GET", "/domains/x.ai/records", "dns_records", R),
    ("domains", "POST", "/domains/x.ai/records", "dns_records", R),
    ("domains", "DELETE", "/domains/x.ai/records/r1", "dns_records", R),
    ("domains", "GET", "/gossip", "gossip", R),
    *(
        (service, method, path, name, kind)
        for service in ("casino", "trading", "wallet", "escrow", "faucet", "domains")
        for method, path, name, kind in EVERYWHERE
    ),
]


def _id(row: tuple[Any, ...]) -> str:
    return f"{row[1]} {row[0]}{row[2]}"


@pytest.mark.parametrize("row", ROUTES, ids=_id)
def test_real_host_routes(row: tuple[str, str, str, str, Kind]) -> None:
    """On its real host, every route has its operation name and kind."""
    service, method, path, name, kind = row
    assert classify(method, f"{service}.purpleflea.com", path) == Operation(service, name, kind)


@pytest.mark.parametrize("row", ROUTES, ids=_id)
def test_loopback_prefix_routes(row: tuple[str, str, str, str, Kind]) -> None:
    """On loopback, /<service><real path> classifies as the real path on the real host."""
    service, method, path, name, kind = row
    assert classify(method, LOOPBACK, f"/{service}{path}") == Operation(service, name, kind)


SHORT = [r for r in ROUTES if r[2].startswith(f"/{r[0]}/") or r[2] == f"/{r[0]}"]


@pytest.mark.parametrize("row", SHORT, ids=_id)
def test_loopback_short_paths(row: tuple[str, str, str, str, Kind]) -> None:
    """Paths that already start with their service (/escrow/create) also work unprefixed."""
    service, method, path, name, kind = row
    assert classify(method, LOOPBACK, path) == Operation(service, name, kind)


def test_every_rule_is_in_the_decision_table() -> None:
    """The tables above exercise every operation the profile knows."""
    tested = {(service, name) for service, _, _, name, _ in ROUTES}
    assert {(r.service, r.name) for r in RULES} <= tested


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "post"])
@pytest.mark.parametrize("service", ["casino", "trading", "wallet", "escrow", "faucet", "domains"])
def test_unknown_write_is_risk_increasing(method: str, service: str) -> None:
    """An undocumented write to a Purple Flea service fails safe: risk-increasing, 'unknown'."""
    expected = Operation(service, "unknown", RI)
    assert classify(method, f"{service}.purpleflea.com", "/v9/brand/new") == expected
    assert classify(method, LOOPBACK, f"/{service}/v9/brand/new") == expected


def test_unknown_write_on_a_known_path_is_risk_increasing() -> None:
    """A method the route does not document (PUT on a bet) is an unknown write."""
    op = classify("PUT", "casino.purpleflea.com", "/api/v1/games/dice")
    assert op == Operation("casino", "unknown", RI)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "head"])
def test_safe_methods_are_reads(method: str) -> None:
    """GET, HEAD and OPTIONS are reads, even on a route whose POST places a bet."""
    assert classify(method, "casino.purpleflea.com", "/api/v1/games/dice").kind is R
    assert classify(method, "casino.purpleflea.com", "/api/v1/whatever").kind is R


def test_head_names_the_get_route() -> None:
    """HEAD asks what GET would do, and gets the GET route's name."""
    assert classify("HEAD", "casino.purpleflea.com", "/api/v1/auth/balance").name == "balance"


@pytest.mark.parametrize(
    ("method", "host", "path", "expected"),
    [
        ("GET", "example.com", "/x", Operation("example.com", "request", R)),
        ("HEAD", "example.com:8443", "/", Operation("example.com", "request", R)),
        ("POST", "api.example.com", "/pay", Operation("api.example.com", "request", RI)),
        ("DELETE", "localhost:9000", "/thing/1", Operation("localhost", "request", RI)),
        ("POST", "api.purpleflea.com", "/v2/x", Operation("api.purpleflea.com", "request", RI)),
        ("POST", "[::1]:8765", "/_sim/credit", Operation("[::1]", "request", RI)),
    ],
)
def test_other_hosts(method: str, host: str, path: str, expected: Operation) -> None:
    """A host that is not Purple Flea and has no service prefix: service is the host name."""
    assert classify(method, host, path) == expected


@pytest.mark.parametrize(
    ("host", "path"),
    [
        ("Casino.PurpleFlea.com", "/api/v1/games/dice"),
        ("casino.purpleflea.com:443", "/api/v1/games/dice"),
        ("casino.purpleflea.com.", "/api/v1/games/dice"),
        ("casino.purpleflea.com", "/api/v1/games/dice/"),
        ("casino.purpleflea.com", "/api/v1/games/dice?x=1"),
        ("localhost", "/casino/api/v1/games/dice"),
        ("[::1]:8765", "/casino/api/v1/games/dice"),
    ],
)
def test_host_spelling_port_and_trailing_slash_do_not_matter(host: str, path: str) -> None:
    """Case, port, a trailing dot or slash and a query string do not change the operation."""
    assert classify("POST", host, path) == Operation("casino", "bet", RI)


async def test_classifies_the_requests_httpx_sends(client: httpx.AsyncClient) -> None:
    """What httpx puts in a request (method, netloc, path) classifies as expected."""
    _, key = await casino_agent(client)
    r = await client.post(
        f"{CASINO}/games/coin-flip", json={"side": "heads", "amount": 1}, headers=bearer(key)
    )
    url = r.request.url
    assert classify(r.request.method, url.netloc.decode(), url.path).name == "bet"
    r = await client.post("/escrow/create", json={}, headers=bearer(key))
    url = r.request.url
    assert classify(r.request.method, url.netloc.decode(), url.path).name == "escrow_create"


@pytest.mark.parametrize(
    ("method", "url", "rule"),
    [
        ("POST", f"{CASINO}/games/dice", "bet"),
        ("POST", f"{CASINO}/bets/batch", "batch"),
        ("GET", f"{CASINO}/auth/balance", "balance"),
        ("POST", f"{CASINO}/auth/withdraw", "withdraw"),
        ("POST", f"{TRADING}/trade/open", "trade_open"),
        ("POST", f"{TRADING}/trade/close", "trade_close"),
        ("POST", f"{FAUCET}/claim", "faucet_claim"),
        ("POST", f"{ESCROW}/create", "escrow_create"),
        ("POST", "https://domains.purpleflea.com/domains/purchase", "domain_purchase"),
        ("GET", "https://domains.purpleflea.com/wallet/balance", "domains_balance"),
        ("POST", f"{TRADING}/trade/limit", None),
        ("POST", f"{ESCROW}/release/esc_1", None),
        ("GET", f"{CASINO}/bets/history", None),
        ("POST", f"{CASINO}/nope", None),
    ],
)
def test_settlement_rule_of_an_operation(method: str, url: str, rule: str | None) -> None:
    """The profile names the settlement rule that reads each operation's reply."""
    u = httpx.URL(url)
    assert settlement_rule(classify(method, u.host, u.path)) == rule


def test_another_table_describes_another_api() -> None:
    """A profile is data: another table classifies another API with the same code."""
    shop = Profile(
        [
            Rule("shop", "POST", "/orders", "order", RI, "order"),
            Rule("shop", "DELETE", "/orders/:id", "cancel", RR),
        ],
        {"shop.example": "shop"},
    )
    assert shop.classify("POST", "shop.example", "/orders") == Operation("shop", "order", RI)
    assert shop.classify("DELETE", "shop.example", "/orders/9").kind is RR
    assert shop.classify("PATCH", "shop.example", "/orders/9") == Operation("shop", "unknown", RI)
    assert shop.settlement_rule(Operation("shop", "order", RI)) == "order"


@pytest.mark.parametrize("method", ["GET", "*"])
def test_a_read_method_rule_must_be_a_read(method: str) -> None:
    """A table that calls a GET (or any-method) route financial is refused at build time."""
    with pytest.raises(ValueError, match="must be a read"):
        Profile([Rule("shop", method, "/buy", "buy", RI)], {})


def test_classification_is_cheap() -> None:
    """Classification takes microseconds (generous bound: 20 µs a call)."""
    calls = [(m, f"{s}.purpleflea.com", p) for s, m, p, _, _ in ROUTES]
    calls += [(m, LOOPBACK, f"/{s}{p}") for s, m, p, _, _ in ROUTES]
    start = time.perf_counter()
    for _ in range(20):
        for call in calls:
            classify(*call)
    per_call = (time.perf_counter() - start) / (20 * len(calls))
    assert per_call < 20e-6


# --- what a status says ------------------------------------------------------------------------

CASINO_401 = {
    "error": "unauthorized",
    "message": "Missing or invalid Authorization header. Use: Bearer {api_key}",
    "suggestion": "Register at POST /api/v1/auth/register to get an API key",
}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, CASINO_401, True),
        (401, {"error": "invalid_key"}, True),
        (401, {"error": "unauthorized"}, True),
        (401, None, True),
        (401, "not json", True),
        (403, {"error": "invalid_key"}, True),
        (403, {"error": "unauthorized", "message": "Invalid API key"}, True),
        (403, {"error": "invalid_api_key"}, True),
        (403, {"error": "Invalid_Key"}, True),
        (403, {"error": "key_expired"}, True),
        (403, {"error": "denied", "message": "Your API key has expired"}, True),
        (403, {"error": "denied", "message": "Invalid API key"}, True),
        (403, {"error": "Expired API key"}, True),
        (403, {"error": {"code": "invalid_api_key", "message": "bad"}}, True),
        (403, "Invalid API key", True),
        (403, {"error": "forbidden", "message": "Only the counterparty can complete"}, False),
        (403, {"error": "forbidden", "message": "Invalid API key for this escrow"}, False),
        (403, {"error": "daily_loss_limit_reached", "message": "Daily loss limit reached"}, False),
        (403, {"error": "has_deposits", "message": "Faucet is for new agents"}, False),
        (403, {"error": "forbidden"}, False),
        (403, None, False),
        (403, [1, 2], False),
        (403, {"error": 5, "message": None}, False),
        (400, {"error": "invalid_key"}, False),
        (404, {"error": "not_found"}, False),
        (429, {"error": "rate_limited"}, False),
        (500, {"error": "internal_error"}, False),
        (200, {"error": "unauthorized"}, False),
    ],
)
def test_is_auth_failure(status: int, body: object, expected: bool) -> None:
    """401 always; 403 only when the body says the key is invalid, never for authorization."""
    assert is_auth_failure(status, body) is expected


async def test_real_401_bodies_are_auth_failures(client: httpx.AsyncClient) -> None:
    """The 401s the services send for a bad key are auth failures."""
    wrong = bearer("sk_live_" + "0" * 48)
    replies = [
        await client.get(f"{CASINO}/auth/balance", headers=wrong),
        await client.get(f"{CASINO}/auth/balance"),
        await client.get(f"{TRADING}/auth/account", headers=wrong),
        await client.post(f"{ESCROW}/create", json={}, headers=wrong),
        await client.get("https://domains.purpleflea.com/wallet/balance", headers=wrong),
    ]
    assert [r.status_code for r in replies] == [401] * 5
    assert all(is_auth_failure(r.status_code, r.json()) for r in replies)


async def test_real_403_forbidden_is_not_an_auth_failure(client: httpx.AsyncClient) -> None:
    """Escrow's 403 forbidden (wrong party) is authorization, not a bad key."""
    _, key = await casino_agent(client)
    other, _ = await casino_agent(client, balance=0)
    body = {"amount_usd": 5, "description": "task", "counterparty_agent_id": other}
    escrow = (await client.post(f"{ESCROW}/create", json=body, headers=bearer(key))).json()
    r = await client.post(f"{ESCROW}/complete/{escrow['escrow_id']}", headers=bearer(key))
    assert r.status_code == 403
    assert r.json()["error"] == "forbidden"
    assert not is_auth_failure(r.status_code, r.json())


async def test_real_403_has_deposits_is_not_an_auth_failure(client: httpx.AsyncClient) -> None:
    """The faucet's 403 has_deposits is authorization, not a bad key."""
    agent, _ = await casino_agent(client, balance=10)
    r = await client.post(f"{FAUCET}/claim", json={"agent_casino_id": agent})
    assert (r.status_code, r.json()["error"]) == (403, "has_deposits")
    assert not is_auth_failure(r.status_code, r.json())


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
        (429, True),
        (200, False),
        (201, False),
        (304, False),
        (400, False),
        (401, False),
        (402, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
    ],
)
def test_counts_as_error(status: int | None, expected: bool) -> None:
    """Transport errors, 5xx and 429 count as errors; 4xx validation errors do not."""
    assert counts_as_error(status) is expected

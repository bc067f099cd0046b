"""The Purple Flea profile: every route of the API as data, and the rules that read it.

A :class:`Rule` names one route (service, method, path pattern) and says what calling it is: an
operation name, a :class:`~guard._model.Kind`, and the name of the settlement rule that reads
its response (see ``guard._settle``). :class:`Profile` compiles a table of rules once and
classifies calls in a few microseconds. Another API is described by another table; nothing that
uses a profile changes.

Path patterns: ``:name`` matches one segment, ``*`` at the end matches the rest of the path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._model import Kind, Operation

__all__ = [
    "PURPLE_FLEA",
    "RULES",
    "Profile",
    "Rule",
    "classify",
    "counts_as_error",
    "is_auth_failure",
    "settlement_rule",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ANY = "*"  # a rule for every method: only for routes documented as reads

SERVICES = ("casino", "trading", "wallet", "escrow", "faucet", "domains")
EVERY_SERVICE = (
    ("/health", "health"),
    ("/ping", "ping"),
    ("/openapi.json", "docs"),
    ("/llms.txt", "docs"),
)

R, RI, RR, T = Kind.READ, Kind.RISK_INCREASING, Kind.RISK_REDUCING, Kind.TRANSFER


@dataclass(frozen=True, slots=True)
class Rule:
    """One route: what calling it does, and which settlement rule reads its reply."""

    service: str
    method: str  # "GET", "POST", ... or "*"
    path: str  # "/api/v1/games/:game"
    name: str
    kind: Kind
    settle: str | None = None  # a settlement rule of guard._settle, or None: nothing to settle


Row = tuple[str, str, str, Kind] | tuple[str, str, str, Kind, str]


def _routes(service: str, prefix: str, *rows: Row) -> tuple[Rule, ...]:
    """Rules of one service; a row is (method, path, name, kind[, settlement rule])."""
    return tuple(
        Rule(service, row[0], prefix + row[1], row[2], row[3], row[4] if len(row) == 5 else None)
        for row in rows
    )


# Account administration (register, deposit addresses, Kelly and risk settings, fairness
# verify/rotate, wallet creation, DNS records) is classified READ whatever the method: these
# calls move no money, so loss breakers must not block them and a failed one has nothing to
# dead-letter or replay. Risk settings can loosen a server-side limit, but the guard's own
# breakers still stand in front of every trade.
RULES: tuple[Rule, ...] = (
    *_routes(
        "casino",
        "/api/v1",
        (ANY, "/auth/register", "register", R),
        ("GET", "/auth/balance", "balance", R, "balance"),
        (ANY, "/auth/deposit-address", "deposit_address", R),
        ("POST", "/auth/withdraw", "withdraw", T, "withdraw"),
        ("GET", "/auth/ledger", "ledger", R),
        ("GET", "/auth/deposits", "deposits", R),
        ("GET", "/auth/withdrawals", "withdrawals", R),
        ("GET", "/auth/referral/code", "referral_code", R),
        ("GET", "/auth/referral/stats", "referral_stats", R),
        ("GET", "/games", "games", R),
        ("POST", "/games/:game", "bet", RI, "bet"),
        # Multi-step games (video-poker/deal, /draw) stake money; their replies are not
        # documented, so nothing is settled from them.
        ("POST", "/games/:game/:step", "bet_step", RI),
        ("POST", "/bets/batch", "batch", RI, "batch"),
        ("GET", "/bets/history", "history", R),
        ("GET", "/kelly/limits", "kelly_limits", R),
        (ANY, "/kelly/config", "kelly_config", R),
        (ANY, "/kelly/simulate", "kelly_simulate", R),
        ("GET", "/fairness/seed-hash", "seed_hash", R),
        (ANY, "/fairness/verify", "fairness_verify", R),
        (ANY, "/fairness/rotate", "fairness_rotate", R),
        ("POST", "/daily/claim", "daily_claim", T),
        (ANY, "/demo", "demo", R),  # simulated play, no balance involved
        ("GET", "/stats/*", "stats", R),
        ("GET", "/gossip", "gossip", R),
    ),
    *_routes(
        "trading",
        "/v1",
        (ANY, "/auth/register", "register", R),
        ("GET", "/auth/account", "account", R),
        ("GET", "/markets", "markets", R),
        ("GET", "/markets/:coin", "market", R),
        ("GET", "/markets/:coin/price", "price", R),
        ("POST", "/trade/open", "trade_open", RI, "trade_open"),
        ("POST", "/trade/close", "trade_close", RR, "trade_close"),
        ("GET", "/trade/positions", "positions", R),
        ("GET", "/trade/history", "history", R),
        (ANY, "/trade/risk-settings", "risk_settings", R),
        ("POST", "/trade/limit", "limit_order", RI),  # nothing fills at placement
        ("GET", "/trade/limit-orders", "limit_orders", R),
        ("DELETE", "/trade/limit-orders/:id", "limit_cancel", RR),
        # Stop-loss and take-profit orders only ever close exposure.
        ("POST", "/trade/stop-loss", "stop_loss", RR),
        ("POST", "/trade/take-profit", "take_profit", RR),
        ("GET", "/gossip", "gossip", R),
    ),
    *_routes(
        "wallet",
        "/v1",
        (ANY, "/auth/register", "register", R),
        (ANY, "/wallet/create", "wallet_create", R),  # new keys, no funds
        ("GET", "/wallet/balance/:address", "wallet_balance", R),
        ("POST", "/wallet/send", "wallet_send", T),
        ("GET", "/wallet/swap/quote", "swap_quote", R),
        ("POST", "/wallet/swap", "swap", RI),  # changes what the agent holds, and costs fees
        ("GET", "/wallet/swap/status/:order", "swap_status", R),
        ("GET", "/referral/code", "referral_code", R),
        ("GET", "/referral/stats", "referral_stats", R),
        ("POST", "/referral/withdraw", "referral_withdraw", T),
        ("GET", "/gossip", "gossip", R),
    ),
    *_routes(
        "escrow",
        "/escrow",
        ("POST", "/create", "escrow_create", RI, "escrow_create"),
        # The creator's money left at create; completing, releasing or disputing moves it
        # between parties (or back), so these are transfers with nothing to settle.
        ("POST", "/complete/:id", "escrow_complete", T),
        ("POST", "/release/:id", "escrow_release", T),
        ("POST", "/dispute/:id", "escrow_dispute", T),
        ("GET", "/stats", "escrow_stats", R),
        ("GET", "/:id", "escrow_get", R),
    ),
    *_routes(
        "faucet",
        "/faucet",
        ("POST", "/claim", "faucet_claim", T, "faucet_claim"),
        ("GET", "/stats", "faucet_stats", R),
    ),
    *_routes(
        "domains",
        "",
        (ANY, "/register", "register", R),
        ("GET", "/search", "search", R),
        ("GET", "/tlds", "tlds", R),
        (ANY, "/wallet/deposit", "deposit_address", R),
        ("GET", "/wallet/balance", "wallet_balance", R, "domains_balance"),
        ("POST", "/domains/purchase", "domain_purchase", RI, "domain_purchase"),
        ("GET", "/domains", "domains", R),
        (ANY, "/domains/:domain/records", "dns_records", R),
        (ANY, "/domains/:domain/records/*", "dns_records", R),
        ("GET", "/gossip", "gossip", R),
    ),
    # Every service answers these (the stored faucet code 404s /health: still a read).
    *(
        Rule(service, "GET", path, name, Kind.READ)
        for service in SERVICES
        for path, name in EVERY_SERVICE
    ),
)

PURPLE_FLEA_HOSTS: Mapping[str, str] = {f"{s}.purpleflea.com": s for s in SERVICES}


def _compile(pattern: str) -> re.Pattern[str] | None:
    """A regex for a pattern with ``:params`` or a ``*`` tail; None for a static path."""
    if ":" not in pattern and not pattern.endswith("*"):
        return None
    parts = []
    for segment in pattern.split("/"):
        if segment == "*":
            parts.append(".*")
        elif segment.startswith(":"):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(segment))
    return re.compile("/".join(parts))


class _Routes:
    """One service's rules, compiled: static paths in a dict, patterns in order."""

    __slots__ = ("exact", "patterns", "safe_unknown", "unsafe_unknown")

    def __init__(self, service: str, rules: Iterable[Rule]) -> None:
        self.exact: dict[tuple[str, str], Operation] = {}
        self.patterns: dict[str, list[tuple[re.Pattern[str], Operation]]] = {}
        for rule in rules:
            op = Operation(rule.service, rule.name, rule.kind)
            regex = _compile(rule.path)
            if regex is None:
                self.exact.setdefault((rule.method, rule.path), op)
            else:
                self.patterns.setdefault(rule.method, []).append((regex, op))
        self.safe_unknown = Operation(service, "unknown", Kind.READ)
        # Fail safe: an undocumented write may spend money.
        self.unsafe_unknown = Operation(service, "unknown", Kind.RISK_INCREASING)

    def find(self, method: str, path: str) -> Operation | None:
        exact = self.exact
        op = exact.get((method, path)) or exact.get((ANY, path))
        if op is not None:
            return op
        for key in (method, ANY):
            for regex, candidate in self.patterns.get(key, ()):
                if regex.fullmatch(path):
                    return candidate
        return None


class Profile:
    """A compiled table of rules: classification and the settlement rule of an operation."""

    def __init__(self, rules: Iterable[Rule], hosts: Mapping[str, str]) -> None:
        rules = tuple(rules)
        for rule in rules:
            if (rule.method in SAFE_METHODS or rule.method == ANY) and rule.kind is not Kind.READ:
                raise ValueError(f"{rule}: a {rule.method} rule must be a read")
        self.rules = rules
        self.hosts = dict(hosts)
        services = dict.fromkeys(r.service for r in rules)
        self._routes = {s: _Routes(s, (r for r in rules if r.service == s)) for s in services}
        self._settle = {(r.service, r.name): r.settle for r in rules if r.settle is not None}

    def classify(self, method: str, host: str, path: str) -> Operation:
        """What a call is: its service, operation name and kind."""
        method = method.upper()
        safe = method in SAFE_METHODS
        lookup = "GET" if safe else method  # HEAD and OPTIONS ask what GET would do
        path = _normalise(path)
        hostname = _hostname(host)
        service = self.hosts.get(hostname)
        if service is not None:
            routes = self._routes[service]
            op = routes.find(lookup, path)
        else:
            first, _, rest = path[1:].partition("/")
            if first not in self._routes:
                return Operation(hostname, "request", Kind.READ if safe else Kind.RISK_INCREASING)
            # The simulator on loopback serves each service under a prefix; escrow and faucet
            # paths already start with their name, so /escrow/create works as well as
            # /escrow/escrow/create.
            routes = self._routes[first]
            op = routes.find(lookup, "/" + rest) or routes.find(lookup, path)
        if op is None:
            return routes.safe_unknown if safe else routes.unsafe_unknown
        return op

    def settlement_rule(self, op: Operation) -> str | None:
        """The name of the settlement rule that reads ``op``'s reply, or None."""
        return self._settle.get((op.service, op.name))


def _normalise(path: str) -> str:
    path = path.partition("?")[0]
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/") or "/"


def _hostname(host: str) -> str:
    """``host`` without its port or trailing dot, lower-cased (``[::1]:80`` keeps its brackets)."""
    host = host.lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] or host
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


PURPLE_FLEA = Profile(RULES, PURPLE_FLEA_HOSTS)


def classify(method: str, host: str, path: str) -> Operation:
    """Classify a call with the Purple Flea profile (see :meth:`Profile.classify`)."""
    return PURPLE_FLEA.classify(method, host, path)


def settlement_rule(op: Operation) -> str | None:
    """The Purple Flea settlement rule of ``op`` (see :meth:`Profile.settlement_rule`)."""
    return PURPLE_FLEA.settlement_rule(op)


# --- what a status says ----------------------------------------------------------------------

# 403 codes that are authorization (the key is fine, the action is not allowed).
_AUTHZ_CODES = frozenset({"forbidden", "daily_loss_limit_reached", "has_deposits"})
_AUTH_CODES = frozenset(
    {
        "unauthorized",
        "unauthenticated",
        "invalid_key",
        "invalid_api_key",
        "invalid_token",
        "expired_key",
        "key_expired",
        "api_key_expired",
        "token_expired",
        "revoked_key",
        "key_revoked",
    }
)
_BAD_KEY = re.compile(
    r"\b(invalid|expired|revoked|unknown)\b.{0,20}\b(api[ _-]?key|key|token)\b"
    r"|\b(api[ _-]?key|token)\b.{0,30}\b(invalid|expired|revoked)\b",
    re.IGNORECASE,
)


def is_auth_failure(status: int, body: object) -> bool:
    """True when the key itself was refused: any 401, or a 403 that says the key is invalid."""
    if status == 401:
        return True
    if status != 403:
        return False
    if isinstance(body, str):
        return bool(_BAD_KEY.search(body))
    if not isinstance(body, dict):
        return False
    error: object = body.get("error")
    message: object = body.get("message")
    if isinstance(error, dict):  # {"error": {"code": ..., "message": ...}} in other APIs
        message = error.get("message", message)
        error = error.get("code")
    code = error.lower() if isinstance(error, str) else ""
    if code in _AUTHZ_CODES:
        return False
    if code in _AUTH_CODES:
        return True
    return any(isinstance(text, str) and _BAD_KEY.search(text) for text in (message, error))


def counts_as_error(status: int | None) -> bool:
    """True for what the error-rate breaker counts: no response, a 5xx or a 429."""
    return status is None or status >= 500 or status == 429

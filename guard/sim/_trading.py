"""The trading service (``trading.purpleflea.com/v1``): perpetuals on a simulated Hyperliquid.

Follows the public server code (routes/auth.ts, markets.ts, trade.ts, engine/hyperliquid.ts,
middleware/auth.ts). Orders fill at the simulator's mark price. Each coin's mark is a seeded
random walk with one step per simulated second since the state was created. Steps are drawn
lazily from ``state.rng("price:<COIN>")``, so on a frozen clock prices only move when time is
advanced or ``/_sim/price`` sets a mark, and the walk then continues from the new mark.
Pending limit orders are checked against the marks whenever the service is called.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from ._core import Call, Reply, Service, SimError, SimState, is_number, iso, round2, round4
from ._core import health as health_body

HL_FEE = 0.00035  # Hyperliquid taker fee
BUILDER_FEE = {"free": 0.0002, "pro": 0.0001, "whale": 0.0}  # Purple Flea markup by tier
DEFAULT_LEVERAGE = 5
MAX_PENDING_LIMITS = 10
MAX_WALK_STEPS = 86_400  # a longer clock jump is covered by one aggregate draw
YEAR_S = 365 * 86_400
DAY_S = 86_400
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
SIGNING_KEY = re.compile(r"^0x[0-9a-fA-F]{64}$")
CATEGORIES = {"TSLA": "stocks", "GOLD": "commodities"}
INFO = {
    "service": "agent-trading",
    "docs": "https://trading.purpleflea.com/llms.txt",
    "referral": "GET /v1/gossip for passive income info",
    "version": "3.0.0",
}
NO_WALLET = (
    "No HL wallet connected. Provide hl_wallet_address and hl_signing_key for real execution."
)
WALLET_NOT_CONFIGURED = (
    "Hyperliquid wallet not configured. "
    "Register with hl_wallet_address and hl_signing_key for real execution."
)
REGISTER_TEXT = {
    "fee_structure": {
        "free": "Hyperliquid fee + 2 bps (0.02%) builder fee",
        "pro": "Hyperliquid fee + 1 bp (0.01%) — $50k+ monthly volume",
        "whale": "Hyperliquid fee only (0 markup) — $500k+ monthly volume",
    },
    "referral_commission": "20% of our fee markup from referred agents",
    "message": "Store your API key securely — it cannot be recovered. "
    "Never share your signing key.",
    "next_steps": [
        "GET /v1/markets — browse perpetual markets",
        "POST /v1/trade/open — open a position",
        "GET /v1/trade/positions — view open positions",
    ],
}
EXAMPLES = {
    "stock": {"coin": "TSLA", "side": "long", "size_usd": 1000, "leverage": 5},
    "commodity": {"coin": "GOLD", "side": "short", "size_usd": 500, "leverage": 10},
    "crypto": {"coin": "BTC", "side": "long", "size_usd": 5000, "leverage": 3},
}


@dataclass(frozen=True)
class Market:
    name: str  # canonical Hyperliquid name; HIP-3 (XYZ dex) markets carry an "xyz:" prefix
    start_price: float
    max_leverage: int
    volatility: float  # annualised, drives the random walk

    @property
    def ticker(self) -> str:
        return self.name.replace("xyz:", "")

    @property
    def dex(self) -> str:
        return "xyz" if self.name.startswith("xyz:") else "main"

    @property
    def category(self) -> str:
        return CATEGORIES.get(self.ticker, "crypto")


MARKETS = {
    m.name: m
    for m in (
        Market("BTC", 95_000.0, 40, 0.60),
        Market("ETH", 3_300.0, 25, 0.75),
        Market("SOL", 190.0, 20, 1.00),
        Market("DOGE", 0.32, 10, 1.10),
        Market("PURR", 0.18, 3, 1.50),
        Market("xyz:TSLA", 420.0, 10, 0.55),
        Market("xyz:GOLD", 2_650.0, 20, 0.15),
    )
}


@dataclass
class Agent:
    id: str
    referral_code: str
    referred_by: str | None
    wallet_agent_id: str | None
    wallet: str | None
    signing_key: bool
    tier: str = "free"
    max_leverage: float = 10
    max_position_usd: float = 10_000
    max_daily_loss_usd: float | None = None  # opt-in, via POST /v1/trade/risk-settings
    total_volume: float = 0.0
    total_fees_paid: float = 0.0
    total_pnl: float = 0.0


@dataclass
class Position:  # the field names, camelCased, are the real database row's
    id: str
    agent_id: str
    coin: str
    side: str
    size_usd: float
    entry_price: float
    leverage: float
    margin_used: float
    liquidation_price: float
    unrealized_pnl: float
    status: str
    hl_order_id: str
    opened_at: int
    closed_at: int | None = None


@dataclass
class LimitOrder:
    order_id: str
    agent_id: str
    coin: str
    side: str
    size_usd: float
    leverage: float
    limit_price: float
    direction: str  # "above" | "below": where the limit sat when placed; fills on reaching it
    status: str
    created_at: int
    filled_at: int | None = None
    position_id: str | None = None


@dataclass
class Walk:
    price: float
    step: int = 0


def fees(size_usd: float, tier: str) -> tuple[float, float, float]:
    """(hyperliquid, builder, total), each rounded to cents as ``calculateFee`` does."""
    hl = round2(size_usd * HL_FEE)
    ours = round2(size_usd * BUILDER_FEE.get(tier, BUILDER_FEE["free"]))
    return hl, ours, round2(hl + ours)


def pnl_of(p: Position, price: float) -> tuple[float, float]:
    """(pnl, price change ratio): pnl is on the notional, not multiplied by leverage."""
    change = (price - p.entry_price) / p.entry_price
    return round2(p.size_usd * (change if p.side == "long" else -change)), change


def camel(row: dict[str, Any]) -> dict[str, Any]:
    return {re.sub(r"_(\w)", lambda m: m.group(1).upper(), k): v for k, v in row.items()}


def _round8(x: float) -> float:
    return math.floor(x * 1e8 + 0.5) / 1e8


def _js(x: float) -> str:
    """A number as JavaScript's template strings print it."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _falsy(value: object) -> bool:
    return value in (None, False, "", 0)


class TradingBook:
    """Agents, positions, trades, limit orders and the price walks of one simulator state."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.agents: dict[str, Agent] = {}
        self.positions: dict[str, Position] = {}
        self.trades: list[dict[str, Any]] = []  # raw rows, camelCase, oldest first
        self.limits: dict[str, LimitOrder] = {}
        self.walks = {name: Walk(m.start_price) for name, m in MARKETS.items()}

    @staticmethod
    def resolve(coin: str) -> Market | None:
        upper = coin.upper().replace("XYZ:", "")
        return next((m for m in MARKETS.values() if m.ticker.upper() == upper), None)

    def price(self, market: Market) -> float:
        walk = self.walks[market.name]
        target = max(0, int(self.state.now() - self.state.epoch))
        gap = target - walk.step
        if gap > 0:
            rng = self.state.rng(f"price:{market.name}")
            sigma = market.volatility / math.sqrt(YEAR_S)
            log_move = 0.0
            if gap > MAX_WALK_STEPS:
                log_move = rng.gauss(0.0, sigma * math.sqrt(gap - MAX_WALK_STEPS))
                gap = MAX_WALK_STEPS
            log_move += sum(rng.gauss(0.0, sigma) for _ in range(gap))
            walk.price *= math.exp(log_move)
            walk.step = target
        return walk.price

    def set_price(self, coin: str, price: float) -> bool:
        market = self.resolve(coin)
        if market is None:
            return False
        self.price(market)  # bring the walk up to now; it continues from the new mark
        self.walks[market.name].price = price
        return True

    def _trade(
        self, agent: Agent, coin: str, side: str, size: float, price: float
    ) -> dict[str, Any]:
        total = fees(size, agent.tier)[2]
        row = {
            "id": f"trd_{self.state.uuid4()}", "agentId": agent.id,
            "orderId": f"ord_{self.state.uuid4()}", "coin": coin, "side": side,
            "sizeUsd": size, "price": price, "fee": total, "realizedPnl": 0.0,
            "createdAt": int(self.state.now()),
        }  # fmt: skip
        self.trades.append(row)
        agent.total_volume += size
        agent.total_fees_paid += total
        return row

    def open(
        self, agent: Agent, market: Market, side: str, size: float, lev: float, price: float
    ) -> dict[str, Any]:
        """Fill a market order at ``price`` and book the position, the trade and the fees."""
        hl_fee, our_fee, total = fees(size, agent.tier)
        row = self._trade(agent, market.name, "buy" if side == "long" else "sell", size, price)
        hl_order_id = self.state.rng("trading:hl").randrange(10**10, 10**11)
        liq = 1 - 1 / lev + 0.005 if side == "long" else 1 + 1 / lev - 0.005
        p = Position(
            f"pos_{self.state.uuid4()}", agent.id, market.name, side, size, price, lev,
            round2(size / lev), _round8(price * liq), 0.0, "open", str(hl_order_id),
            row["createdAt"],
        )  # fmt: skip
        self.positions[p.id] = p
        return {
            "position_id": p.id, "order_id": row["orderId"], "coin": market.name,
            "ticker": market.ticker, "category": market.category, "dex": market.dex,
            "side": side, "size_usd": size, "entry_price": price, "leverage": lev,
            "max_leverage": market.max_leverage, "margin_used": p.margin_used,
            "liquidation_price": p.liquidation_price, "fee": total,
            "fee_breakdown": {"hyperliquid": hl_fee, "purple_flea_builder": our_fee},
            "hl_order_id": hl_order_id, "execution": "real", "status": "open",
        }  # fmt: skip

    def close(self, agent: Agent, p: Position) -> dict[str, Any]:
        exit_price = self.price(MARKETS[p.coin])
        pnl, change = pnl_of(p, exit_price)
        p.status, p.unrealized_pnl, p.closed_at = "closed", pnl, int(self.state.now())
        side = "sell" if p.side == "long" else "buy"
        row = self._trade(agent, p.coin, side, p.size_usd, exit_price)
        row["realizedPnl"] = pnl
        agent.total_pnl += pnl
        return {
            "position_id": p.id, "coin": p.coin, "ticker": p.coin.replace("xyz:", ""),
            "side": p.side, "entry_price": p.entry_price, "exit_price": exit_price,
            "size_usd": p.size_usd, "leverage": p.leverage, "pnl": pnl,
            "pnl_percent": round2(change * 100), "fee": row["fee"],
            "hl_order_id": self.state.rng("trading:hl").randrange(10**10, 10**11),
            "execution": "real", "status": "closed",
        }  # fmt: skip

    def sweep(self) -> None:
        """Fill every pending limit order whose coin's mark has reached its limit price."""
        for o in self.limits.values():
            if o.status != "pending":
                continue
            market, agent = MARKETS[o.coin], self.agents[o.agent_id]
            mark = self.price(market)
            if mark <= o.limit_price if o.direction == "below" else mark >= o.limit_price:
                opened = self.open(agent, market, o.side, o.size_usd, o.leverage, o.limit_price)
                o.status, o.filled_at = "filled", int(self.state.now())
                o.position_id = opened["position_id"]

    def daily_loss(self, agent_id: str) -> float:
        """Today's (UTC) realized loss net of fees, as a positive number (0 when up)."""
        start = int(self.state.now() // DAY_S * DAY_S)
        rows = [t for t in self.trades if t["agentId"] == agent_id and t["createdAt"] >= start]
        return abs(min(0.0, float(sum(t["realizedPnl"] - t["fee"] for t in rows))))


# --- routes ---------------------------------------------------------------------------------


def _unauthorized(missing_header: bool) -> SimError:
    if missing_header:
        return SimError(401, "unauthorized", "Provide Authorization: Bearer <api_key>")
    return SimError(401, "invalid_key")


service = Service("trading", realm="trading", unauthorized=_unauthorized, info=INFO)


def _book(call: Call) -> TradingBook:
    return call.state.book(TradingBook)  # limit orders were filled by SimState.run_due


def _me(call: Call) -> tuple[TradingBook, Agent]:
    book = _book(call)
    return book, book.agents[call.agent]


@service.route("GET", "/health")
def health(call: Call) -> dict[str, Any]:
    agents = len(_book(call).agents)
    return health_body(call, "agent-trading", "3.0.0", agents, execution="real")


@service.route("POST", "/v1/auth/register", ip_limit=10)
def register(call: Call) -> Reply:
    book, body, state = _book(call), call.body, call.state
    address, key = body.get("hl_wallet_address"), body.get("hl_signing_key")
    if not _falsy(address) and not (isinstance(address, str) and ADDRESS.match(address)):
        msg = "hl_wallet_address must be a valid Ethereum address (0x...)"
        raise SimError(400, "invalid_wallet", msg)
    if not _falsy(key) and not (isinstance(key, str) and SIGNING_KEY.match(key)):
        msg = "hl_signing_key must be a valid 32-byte hex private key (0x...)"
        raise SimError(400, "invalid_signing_key", msg)
    agent_id = f"ag_{state.hex(6)}"
    api_key = state.keys.issue("trading", agent_id, "sk_trade_")
    code = body.get("referral_code")
    referrer = next((a.id for a in book.agents.values() if a.referral_code == code), None)
    generated = _falsy(address) and _falsy(key)  # nothing given: the service makes a wallet
    wallet = address.lower() if isinstance(address, str) and address else None
    if generated:
        wallet = f"0x{state.hex(20, 'trading:wallet')}"
    signing = generated or not _falsy(key)
    referral = f"ref_{state.hex(4)}"
    agent = Agent(agent_id, referral, referrer, body.get("wallet_agent_id"), wallet, signing)
    book.agents[agent_id] = agent
    hl_wallet: dict[str, Any] = {"message": NO_WALLET}
    if wallet is not None:
        hl_wallet = {
            "address": wallet, "generated": generated, "signing_key_stored": signing,
            "builder_fee_approved": signing,
            "execution": "real" if signing else "requires_signing_key",
            "onboarding": "Deposit USDC to deposit_address (your Hyperliquid account) to trade",
        }  # fmt: skip
    reply = {
        "agent_id": agent_id, "api_key": api_key, "referral_code": referral, "tier": "free",
        "deposit_address": wallet, "hl_wallet": hl_wallet, **REGISTER_TEXT,
    }  # fmt: skip
    return Reply(reply, 201)


@service.route("GET", "/v1/auth/account", auth="required")
def account(call: Call) -> dict[str, Any]:
    _, a = _me(call)
    return {
        "agent_id": a.id, "tier": a.tier, "max_leverage": a.max_leverage,
        "max_position_usd": a.max_position_usd, "total_volume": a.total_volume,
        "total_fees_paid": a.total_fees_paid, "total_pnl": a.total_pnl,
        "referral_code": a.referral_code,
        "hl_wallet": {
            "address": a.wallet, "connected": a.wallet is not None,
            "signing_key_stored": a.signing_key, "builder_fee_approved": a.signing_key,
            "execution": "real" if a.signing_key else "not_configured",
        },
    }  # fmt: skip


@service.route("GET", "/v1/markets")
def markets(call: Call) -> dict[str, Any]:
    book = _book(call)
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in MARKETS.values():
        row = {"coin": m.name, "display_name": m.ticker, "price": book.price(m)}
        row |= {"max_leverage": m.max_leverage, "category": m.category, "dex": m.dex}
        groups.setdefault(m.category, []).append(row)
    rwa = {c: groups.get(c, []) for c in ("stocks", "commodities", "indices", "forex")}
    crypto: dict[str, Any] = {"count": len(groups["crypto"])}
    if call.query.get("include_crypto") == "true":
        crypto["markets"] = groups["crypto"]
    return {
        "total_markets": len(MARKETS),
        "crypto_markets": len(groups["crypto"]),
        "rwa_markets": sum(len(rows) for rows in rwa.values()),
        "categories": {
            **{c: {"count": len(r), "markets": r} for c, r in rwa.items()},
            "crypto": crypto,
        },
        "fee_tiers": {"free": "HL fee + 2 bps", "pro": "HL fee + 1 bp", "whale": "HL fee only"},
    }


@service.route("GET", "/v1/markets/:coin")
def market(call: Call) -> dict[str, Any]:
    coin = call.params["coin"].upper()
    m = TradingBook.resolve(coin)
    if m is None:
        raise SimError(
            404, "market_not_found", coin=coin, suggestion="GET /v1/markets for all available"
        )
    examples = []
    for size in (100, 1000, 10000):
        hl, ours, total = fees(size, "free")
        examples.append({"size_usd": size, "hlFee": hl, "ourFee": ours, "totalFee": total})
    order = '{{ "coin": "{}", "side": "{}", "size_usd": 1000, "leverage": {} }}'
    lev = min(5, m.max_leverage)
    return {
        "coin": m.name, "ticker": m.ticker, "price": _book(call).price(m),
        "max_leverage": m.max_leverage, "category": m.category, "dex": m.dex,
        "fee_examples": examples,
        "trade_example": {
            s: "POST /v1/trade/open " + order.format(m.ticker, s, lev) for s in ("long", "short")
        },
    }  # fmt: skip


@service.route("GET", "/v1/markets/:coin/price")
def market_price(call: Call) -> dict[str, Any]:
    coin = call.params["coin"].upper()
    m = TradingBook.resolve(coin)
    if m is None:
        raise SimError(404, "no_price", coin=coin)
    price = _book(call).price(m)
    return {"coin": m.name, "ticker": m.ticker, "price": price, "timestamp": int(call.now() * 1000)}


def _order_from(call: Call, agent: Agent) -> tuple[Any, str, float, float]:
    """The checks of ``POST /trade/open``, in its order: (coin, side, size_usd, leverage)."""
    coin, side, size, leverage = (
        call.body.get(k) for k in ("coin", "side", "size_usd", "leverage")
    )
    if _falsy(coin) or _falsy(side) or _falsy(size):
        msg = "Provide coin, side (long/short), size_usd"
        raise SimError(400, "invalid_request", msg, examples=EXAMPLES)
    if not is_number(size) or size <= 0:
        raise SimError(400, "invalid_size", "size_usd must be a positive number")
    if side not in ("long", "short"):
        raise SimError(400, "invalid_side", "side must be 'long' or 'short'")
    if leverage is not None and (not is_number(leverage) or leverage < 1):
        raise SimError(400, "invalid_leverage", "leverage must be a number >= 1")
    if size > agent.max_position_usd:
        cap = agent.max_position_usd
        msg = f"Max position size is ${_js(cap)}. Upgrade tier for higher limits."
        raise SimError(400, "position_too_large", max_position_usd=cap, message=msg)
    lev = min(DEFAULT_LEVERAGE if leverage is None else leverage, agent.max_leverage)
    return coin, side, size, lev


def _market_for(agent: Agent, coin: object, lev: float) -> Market:
    """What the real server only learns from the exchange: the wallet, the market, its leverage."""
    if not (agent.signing_key and agent.wallet):
        raise SimError(400, "wallet_not_configured", WALLET_NOT_CONFIGURED)
    m = TradingBook.resolve(coin) if isinstance(coin, str) else None
    if m is None:
        msg = (
            f"Market not found: {str(coin).upper()}. Try GET /v1/markets to see available markets."
        )
        raise SimError(400, "trade_failed", msg)
    if lev > m.max_leverage:
        raise SimError(400, "trade_failed", f"Max leverage for {m.name} is {m.max_leverage}x")
    return m


@service.route("POST", "/v1/trade/open", auth="required", ip_limit=30)
def trade_open(call: Call) -> dict[str, Any]:
    book, agent = _me(call)
    coin, side, size, lev = _order_from(call, agent)
    limit = agent.max_daily_loss_usd
    if limit is not None and limit > 0 and (loss := book.daily_loss(agent.id)) >= limit:
        raise SimError(
            403, "daily_loss_limit_reached",
            f"Daily loss limit of ${_js(limit)} reached. Trading blocked until UTC midnight.",
            daily_loss_limit_usd=limit, current_daily_loss_usd=round2(loss),
            resets_at=iso((call.now() // DAY_S + 1) * DAY_S),
            tip="Update your limit via POST /v1/trade/risk-settings",
        )  # fmt: skip
    m = _market_for(agent, coin, lev)
    return book.open(agent, m, side, size, lev, book.price(m))


@service.route("POST", "/v1/trade/close", auth="required", ip_limit=30)
def trade_close(call: Call) -> dict[str, Any]:
    book, agent = _me(call)
    position_id = call.body.get("position_id")
    if _falsy(position_id):
        raise SimError(400, "provide position_id")
    p = book.positions.get(position_id) if isinstance(position_id, str) else None
    if p is None or p.agent_id != agent.id or p.status != "open":
        raise SimError(404, "position_not_found")
    if not (agent.signing_key and agent.wallet):
        raise SimError(400, "wallet_not_configured", WALLET_NOT_CONFIGURED)
    return book.close(agent, p)


@service.route("GET", "/v1/trade/positions", auth="required")
def positions(call: Call) -> dict[str, Any]:
    """Open positions as the real server reads them from Hyperliquid; ``?status=all``: DB rows."""
    book, agent = _me(call)
    mine = [p for p in reversed(book.positions.values()) if p.agent_id == agent.id]
    rows = []
    if call.query.get("status") == "all":
        for p in mine[:50]:
            price = book.price(MARKETS[p.coin])
            pnl = pnl_of(p, price)[0] if p.status == "open" else p.unrealized_pnl
            ticker = p.coin.replace("xyz:", "")
            rows.append(
                camel(asdict(p)) | {"ticker": ticker, "current_price": price, "unrealized_pnl": pnl}
            )
        return {"positions": rows, "count": len(rows), "source": "database"}
    for p in (p for p in mine if p.status == "open"):
        price = book.price(MARKETS[p.coin])
        pnl = pnl_of(p, price)[0]
        rows.append({
            "position_id": p.id, "coin": p.coin, "ticker": p.coin.replace("xyz:", ""),
            "side": p.side, "size": _round8(p.size_usd / p.entry_price),
            "size_usd": round2(p.size_usd), "entry_price": p.entry_price, "current_price": price,
            "leverage": p.leverage, "margin_used": p.margin_used,
            "liquidation_price": p.liquidation_price, "unrealized_pnl": pnl,
            "return_on_equity": round4(pnl / p.margin_used), "source": "hyperliquid",
        })  # fmt: skip
    return {"positions": rows, "count": len(rows), "source": "hyperliquid"}


@service.route("GET", "/v1/trade/history", auth="required")
def history(call: Call) -> dict[str, Any]:
    book, agent = _me(call)
    digits = re.match(r"\s*([+-]?\d+)", call.query.get("limit", ""))  # parseInt(...) || 50
    limit = min(int(digits.group(1)) if digits and int(digits.group(1)) else 50, 200)
    rows = [dict(t) for t in reversed(book.trades) if t["agentId"] == agent.id]
    rows = rows if limit < 0 else rows[:limit]  # SQLite reads a negative LIMIT as none
    return {"trades": rows, "count": len(rows)}


@service.route("POST", "/v1/trade/risk-settings", auth="required")
def risk_settings(call: Call) -> dict[str, Any]:
    """Set the opt-in daily loss limit (null disables it) and the leverage and size caps."""
    _, agent = _me(call)
    body, changed = call.body, []
    if "max_daily_loss_usd" in body:
        val = body["max_daily_loss_usd"]
        if val is not None and not (is_number(val) and val > 0):
            msg = "max_daily_loss_usd must be a positive number or null to disable"
            raise SimError(400, "invalid_value", msg)
        changed.append(
            ("max_daily_loss_usd", val, f"${_js(val)}" if val else "disabled (no limit)")
        )
    if "max_leverage" in body:
        val = body["max_leverage"]
        if not is_number(val) or not 1 <= val <= 50:
            raise SimError(400, "invalid_value", "max_leverage must be 1-50")
        val = min(val, 20 if agent.tier == "free" else 50)
        changed.append(("max_leverage", val, f"{_js(val)}x"))
    if "max_position_usd" in body:
        val = body["max_position_usd"]
        if not is_number(val) or val <= 0:
            raise SimError(400, "invalid_value", "max_position_usd must be a positive number")
        val = min(val, 50_000 if agent.tier == "free" else 500_000)
        changed.append(("max_position_usd", val, f"${_js(val)}"))
    if not changed:
        msg = "Provide at least one of: max_daily_loss_usd, max_leverage, max_position_usd"
        raise SimError(400, "no_changes", msg)
    for name, val, _ in changed:
        setattr(agent, name, val)
    names = ("max_leverage", "max_position_usd", "max_daily_loss_usd")
    return {
        "success": True,
        "changed": [f"{name}: {text}" for name, _, text in changed],
        "risk_settings": {name: getattr(agent, name) for name in names},
        "note": "Daily loss limit blocks new trade opens until UTC midnight when limit is reached.",
    }


@service.route("POST", "/v1/trade/limit", auth="required")
def limit_order(call: Call) -> Reply:
    book, agent = _me(call)
    coin, side, size, lev = _order_from(call, agent)
    limit_price = call.body.get("limit_price")
    if not is_number(limit_price) or limit_price <= 0:
        raise SimError(400, "invalid_price", "limit_price must be a positive number")
    m = _market_for(agent, coin, lev)
    pending = sum(o.agent_id == agent.id and o.status == "pending" for o in book.limits.values())
    if pending >= MAX_PENDING_LIMITS:
        msg = f"Max {MAX_PENDING_LIMITS} pending limit orders. Cancel one first."
        raise SimError(400, "limit_reached", msg, pending_count=pending)
    price = book.price(m)
    direction = "above" if limit_price > price else "below"
    o = LimitOrder(
        f"ord_{call.state.uuid4()}", agent.id, m.name, side, size, lev, limit_price,
        direction, "pending", int(call.now()),
    )  # fmt: skip
    book.limits[o.order_id] = o
    reply = {
        "order_id": o.order_id, "coin": o.coin, "side": side, "size_usd": size, "leverage": lev,
        "limit_price": limit_price, "current_price": price, "direction": direction,
        "status": "pending",
        "message": f"Limit {side} {m.ticker} ${_js(size)}: fills when the price goes "
        f"{direction} {_js(limit_price)}",
        "next": f"GET /v1/trade/limit-orders; DELETE /v1/trade/limit-orders/{o.order_id}",
    }  # fmt: skip
    return Reply(reply, 201)


@service.route("GET", "/v1/trade/limit-orders", auth="required")
def limit_orders(call: Call) -> dict[str, Any]:
    book, agent = _me(call)
    mine = [asdict(o) for o in reversed(book.limits.values()) if o.agent_id == agent.id]
    out = {s: [o for o in mine if o["status"] == s] for s in ("pending", "filled", "cancelled")}
    return {**out, "pending_count": len(out["pending"])}


@service.route("DELETE", "/v1/trade/limit-orders/:id", auth="required")
def cancel_limit(call: Call) -> dict[str, Any]:
    book, agent = _me(call)
    o = book.limits.get(call.params["id"])
    if o is None or o.agent_id != agent.id or o.status != "pending":
        raise SimError(404, "not_found", f"No pending limit order {call.params['id']}")
    o.status = "cancelled"
    return {"order_id": o.order_id, "status": "cancelled"}

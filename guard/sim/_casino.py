"""The casino service (``casino.purpleflea.com``), faithful to the public server code.

Balances live in the shared :class:`~guard.sim._bank.Bank` (escrow and faucet move the same
money); seeds, bets, withdrawals and deposit addresses live in :class:`CasinoBook`. The game
maths is in ``_games.py``.
"""

from __future__ import annotations

import contextlib
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._bank import Account, Bank
from ._core import Call, Reply, Service, SimError, SimState, is_number, iso, round2, sha256_hex
from ._core import health as health_body
from ._faucet import FaucetBook
from ._games import (
    CHAINS,
    HISTORY_GAMES,
    MIN_BET,
    ROTATE_AFTER,
    ROUTE_GAMES,
    Bet,
    Seed,
    Wager,
    all_game_limits,
    batch_summary,
    batch_wager,
    catalogue,
    history_page,
    js_str,
    js_truthy,
    kelly_optimal,
    manual_proof,
    parse_int,
    parse_since,
    result_hash,
    roll_of,
    to_fixed2,
)

API = "/api/v1"
INFO = {
    "service": "agent-casino",
    "docs": "https://casino.purpleflea.com/llms.txt",
    "referral": "GET /api/v1/gossip for passive income info",
    "version": "1.0.0",
}
MISSING_KEY = "Missing or invalid Authorization header. Use: Bearer {api_key}"
REGISTER_HINT = "Register at POST /api/v1/auth/register to get an API key"
WITHDRAW_FEE = 0.50
ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")
LEDGER_KEYS = ("type", "amount", "balance_after", "reason", "reference", "service")
EVM_CHAINS = ("base", "ethereum", "bsc", "arbitrum")  # one shared address
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _unauthorized(missing_header: bool) -> SimError:
    message = MISSING_KEY if missing_header else "Invalid API key"
    return SimError(401, "unauthorized", message, suggestion=REGISTER_HINT)


service = Service("casino", realm="casino", unauthorized=_unauthorized, info=INFO)


# --- the casino's own records -------------------------------------------------------------


@dataclass
class CasinoBook:
    """Per-agent server seeds, bets, withdrawals and deposit addresses (one per state)."""

    state: SimState
    seeds: list[Seed] = field(default_factory=list)
    active: dict[str, Seed] = field(default_factory=dict)
    bets: dict[str, Bet] = field(default_factory=dict)
    bets_of: dict[str, list[Bet]] = field(default_factory=dict)
    withdrawals_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    addresses: dict[tuple[str, str], str] = field(default_factory=dict)

    def seed_for(self, agent_id: str) -> Seed:
        """The agent's active seed, created (and committed to) on first use."""
        seed = self.active.get(agent_id)
        if seed is None:
            secret = self.state.hex(32, stream="casino.seeds")
            seed = Seed(len(self.seeds) + 1, secret, sha256_hex(secret), agent_id, self.state.now())
            self.seeds.append(seed)
            self.active[agent_id] = seed
        return seed

    def take_nonce(self, seed: Seed) -> int:
        """The nonce for this bet; the seed is revealed and replaced after 1000 bets."""
        used = seed.nonce
        seed.nonce += 1
        if seed.nonce >= ROTATE_AFTER:
            self.rotate(seed)
        return used

    def rotate(self, seed: Seed) -> Seed:
        seed.active, seed.revealed_at = False, self.state.now()
        self.active.pop(seed.agent_id, None)
        return self.seed_for(seed.agent_id)

    def record(self, bet: Bet) -> None:
        self.bets[bet.id] = bet
        self.bets_of.setdefault(bet.agent_id, []).append(bet)

    def address(self, agent_id: str, chain: str) -> tuple[str, bool]:
        """The agent's deposit address on ``chain`` and whether it was just created."""
        key = (agent_id, "evm" if chain in EVM_CHAINS else chain)
        known = (agent_id, chain) in self.addresses
        if key not in self.addresses:
            rng = self.state.rng("casino.addresses")
            b58 = "".join(rng.choice(B58) for _ in range(93))
            self.addresses[key] = {
                "evm": "0x" + self.state.hex(20, stream="casino.addresses"),
                "solana": b58[:44],
                "bitcoin": "bc1q" + self.state.hex(19, stream="casino.addresses"),
                "tron": "T" + b58[:33],
                "monero": "4" + b58,
            }[key[1]]
        self.addresses[(agent_id, chain)] = self.addresses[key]
        return self.addresses[key], not known


# --- helpers ------------------------------------------------------------------------------


def _books(call: Call) -> tuple[Bank, CasinoBook, Account]:
    bank = call.state.book(Bank)
    return bank, call.state.book(CasinoBook), bank.require(call.agent)


def _agent_limit(call: Call, bucket: str, limit: int, message: str) -> None:
    """The per-agent fixed window (middleware/rateLimit.ts), only with rate limits on."""
    if not call.state.config.rate_limits:
        return
    reset = call.state.limits.hit(f"agent:casino:{bucket}:{call.agent}", limit)
    if reset is not None:
        raise SimError(429, "rate_limit_exceeded", message, reset_at=iso(reset))


def _move(
    bank: Bank,
    agent_id: str,
    kind: str,
    amount: float,
    reason: str,
    *,
    reference: str,
    service: str = "casino",
) -> None:
    """A ledger movement with the bet or withdrawal it belongs to."""
    move = bank.credit if kind == "credit" else bank.debit
    move(agent_id, amount, reason, service, reference)


def _seconds(row: dict[str, Any]) -> int:
    """A ledger row's ``created_at`` in whole seconds, as the casino's SQLite stores it."""
    at = str(row.get("at", "1970-01-01T00:00:00Z")).replace("Z", "+00:00")
    return math.floor(datetime.fromisoformat(at).timestamp())


# --- auth and account ---------------------------------------------------------------------


@service.route("GET", "/health")
def health(call: Call) -> dict[str, Any]:
    return health_body(call, "agent-casino", "1.0.0", len(call.state.book(Bank).accounts))


@service.route("POST", f"{API}/auth/register", ip_limit=10)
def register(call: Call) -> Reply:
    bank = call.state.book(Bank)
    code = call.body.get("referral_code")
    referrer = bank.by_referral(code if isinstance(code, str) else None)
    account, key = bank.open(referrer.agent_id if referrer else None)
    if call.state.config.auto_faucet:
        # The real casino asks the faucet in the background, from its own address, and
        # ignores the answer: most such claims hit the faucet's one-per-IP-per-day limit.
        with contextlib.suppress(SimError):
            call.state.book(FaucetBook).claim(account.agent_id, None, "casino-server")
    body = {
        "agent_id": account.agent_id,
        "api_key": key,
        "referral_code": account.referral_code,
        "balance": 0.0,
        "tier": "free",
        "risk_factor": 0.25,
        "referral_commission": "10% of net losses from referred agents",
        "message": "Store your API key securely — it cannot be recovered.",
        "next_steps": [
            "GET /api/v1/auth/balance — check your balance",
            "POST /api/v1/auth/deposit-address — get a deposit address",
            "POST /api/v1/games/coin-flip — place your first bet",
            "GET /api/v1/games — see all available games",
            "Share your referral_code — earn 10% of referred agents net losses",
        ],
    }
    return Reply(body, 201)


def _activity(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "amount", "balance_after", "reason", "service")
    return {**{k: row.get(k) for k in keys}, "at": iso(_seconds(row))}


@service.route("GET", f"{API}/auth/balance", auth="required")
def balance(call: Call) -> dict[str, Any]:
    _, _, a = _books(call)
    return {
        "agent_id": a.agent_id,
        "balance_usd": a.balance,
        "tier": a.tier,
        "risk_factor": a.risk_factor,
        "lifetime": {
            "total_deposited": a.total_deposited,
            "total_withdrawn": a.total_withdrawn,
            "total_wagered": a.total_wagered,
            "total_won": a.total_won,
            "net_profit": a.total_won - a.total_wagered,
        },
        "recent_activity": [_activity(r) for r in reversed(a.ledger[-10:])],
    }


@service.route("GET", f"{API}/auth/ledger", auth="required")
def ledger(call: Call) -> dict[str, Any]:
    _, _, a = _books(call)
    entries = []
    for index in reversed(range(max(len(a.ledger) - 50, 0), len(a.ledger))):
        row = a.ledger[index]
        created = _seconds(row)
        row_id = uuid.UUID(hex=sha256_hex(f"{a.agent_id}:{index}")[:32], version=4)
        # the row as the server spreads its camelCase database columns
        columns = {re.sub(r"_(\w)", lambda m: m[1].upper(), k): row.get(k) for k in LEDGER_KEYS}
        entries.append({"id": str(row_id), "agentId": a.agent_id, **columns, "createdAt": created})
        entries[-1]["at"] = iso(created)
    return {"entries": entries}


@service.route("POST", f"{API}/auth/deposit-address", auth="required")
def deposit_address(call: Call) -> Reply:
    _, book, a = _books(call)
    chain = call.body.get("chain")
    chain = "base" if chain is None else chain  # body.chain ?? "base"
    if not isinstance(chain, str) or chain not in CHAINS:
        raise SimError(
            400,
            "unsupported_chain",
            supported=list(CHAINS),
            suggestion="Use 'base' for lowest fees (USDC on Base)",
            chains=[
                {"chain": c, "token": t[0], "auto_swap": t[1], "swap_fee": t[2]}
                for c, t in CHAINS.items()
            ],
        )
    token, auto_swap, swap_fee, minimum, note, instructions = CHAINS[chain]
    address, created = book.address(a.agent_id, chain)
    body = {
        "chain": chain,
        "address": address,
        "send_token": token,
        "send_instructions": instructions,
        "auto_swap": auto_swap,
        "swap_fee": swap_fee,
        "minimum": minimum,
        "note": note,
        "withdrawals": "USDC on Base only — all deposits converted to USD balance",
    }
    return Reply(body, 201 if created else 200)


@service.route("POST", f"{API}/auth/withdraw", auth="required", ip_limit=5)
def withdraw(call: Call) -> dict[str, Any]:
    bank, book, a = _books(call)
    amount, address = call.body.get("amount"), call.body.get("address")
    if not is_number(amount) or amount <= 0:
        raise SimError(400, "invalid_amount", suggestion="Amount must be a positive finite number")
    if amount < 1:
        raise SimError(
            400, "minimum_withdrawal", minimum=1.0, suggestion="Minimum withdrawal is $1.00"
        )
    if amount > 100_000:
        hint = "Maximum single withdrawal is $100,000. Contact support for larger amounts."
        raise SimError(400, "maximum_withdrawal", maximum=100000, suggestion=hint)
    if not isinstance(address, str) or not ADDRESS_RE.fullmatch(address):
        hint = "Provide a valid Base/Ethereum address (0x followed by 40 hex characters)"
        raise SimError(400, "invalid_address", suggestion=hint)
    total = amount + WITHDRAW_FEE
    if a.balance < total:
        raise SimError(
            400,
            "insufficient_balance",
            requested=amount,
            fee=WITHDRAW_FEE,
            total_needed=total,
            available=a.balance,
            suggestion=f"Deposit at least ${to_fixed2(total - a.balance)} more "
            "or reduce withdrawal amount",
        )
    wid = call.state.uuid4()
    _move(bank, a.agent_id, "debit", total, "reservation", reference=wid)
    created = math.floor(call.now())
    row: dict[str, Any] = {
        "id": wid,
        "agentId": a.agent_id,
        "amount": amount,
        "fee": WITHDRAW_FEE,
        "chain": "base",
        "token": "USDC",
        "address": address,
        "txHash": None,
        "status": "reviewing",
        "createdAt": created,
        "completedAt": None,
    }
    book.withdrawals_of.setdefault(a.agent_id, []).append(row)
    common = {"withdrawal_id": wid, "amount": amount, "fee": WITHDRAW_FEE, "chain": "base"}
    if amount > 1000:
        note = "Withdrawals over $1,000 are reviewed within 1 hour"
        return {"status": "pending_review", **common, "address": address, "note": note}
    _move(bank, a.agent_id, "credit", total, "reservation_release", reference=wid)
    _move(bank, a.agent_id, "debit", total, "withdrawal", service="withdrawal", reference=wid)
    a.total_withdrawn += amount
    tx_hash = "0x" + call.state.hex(32)
    row.update(txHash=tx_hash, status="completed", completedAt=created)
    return {
        "status": "completed",
        **common,
        "token": "USDC",
        "address": address,
        "tx_hash": tx_hash,
        "explorer": f"https://basescan.org/tx/{tx_hash}",
        "new_balance": a.balance,
    }


@service.route("GET", f"{API}/auth/withdrawals", auth="required")
def withdrawals(call: Call) -> dict[str, Any]:
    _, book, a = _books(call)
    rows = book.withdrawals_of.get(a.agent_id, [])
    return {"withdrawals": [dict(r) for r in reversed(rows[-50:])]}


# --- games --------------------------------------------------------------------------------


def _play(call: Call, wager: Wager, amount: Any, client_seed: Any) -> dict[str, Any]:
    """validateAndReserve + the roll + settleBet, for one bet."""
    if not is_number(amount) or amount <= 0:
        raise SimError(400, "invalid_amount", "Bet amount must be a positive finite number")
    if amount < MIN_BET:
        raise SimError(400, "minimum_bet", "Minimum bet is $0.01")
    bank, book, account = _books(call)
    bankroll = account.balance
    if bankroll < amount:
        raise SimError(
            400,
            "insufficient_balance",
            f"Balance ${to_fixed2(bankroll)} is less than bet ${to_fixed2(amount)}",
            required=amount,
            suggestion=f"Deposit at least ${to_fixed2(amount - bankroll)} or reduce bet size",
        )
    cap = kelly_optimal(bankroll, wager.win_prob, wager.payout, account.risk_factor)
    if not amount <= cap["max_bet"]:
        limit = to_fixed2(cap["max_bet"])
        raise SimError(
            400,
            "kelly_limit_exceeded",
            f"Bet ${to_fixed2(amount)} exceeds Kelly limit of ${limit}",
            max_bet=cap["max_bet"],
            suggestion=f"Reduce bet to ${limit} or lower. Kelly protects your bankroll from ruin.",
            kelly=cap,
        )
    bet_id = "bet_" + call.state.uuid4()
    _move(bank, account.agent_id, "debit", amount, "reservation", reference=bet_id)
    seed = book.seed_for(account.agent_id)
    nonce = book.take_nonce(seed)
    if not (isinstance(client_seed, str) and client_seed):
        client_seed = f"auto_{round(call.now() * 1000)}"
    digest = result_hash(seed.seed, client_seed, nonce)
    won, result = wager.settle(roll_of(digest))
    amount_won = amount * wager.payout if won else 0
    if amount_won > 0:
        _move(bank, account.agent_id, "credit", amount_won, "reservation_release", reference=bet_id)
    account.total_wagered += amount
    account.total_won += amount_won
    bet = Bet(bet_id, account.agent_id, wager.game, amount, wager.payout, result, won,
              amount_won, seed, client_seed, nonce, digest, call.now())  # fmt: skip
    book.record(bet)
    if not won:
        _pay_referrers(bank, account, amount, bet_id)
    after = kelly_optimal(account.balance, wager.kelly_prob, wager.payout, account.risk_factor)
    return bet.result_body(account.balance, account.risk_factor, after)


def _pay_referrers(bank: Bank, bettor: Account, stake: float, bet_id: str) -> None:
    """10% / 5% / 2.5% of a lost stake up a three-level referral chain."""
    referrer_id = bettor.referred_by
    for level, share in enumerate((1.0, 0.5, 0.25), start=1):
        referrer = bank.get(referrer_id) if referrer_id else None
        if referrer is None:
            return
        commission = round2(stake * 0.10 * share)
        if commission >= 0.01:
            bank.credit(referrer.agent_id, commission, f"referral_commission_l{level}:{bet_id}")
        referrer_id = referrer.referred_by


@service.route("GET", f"{API}/games")
def list_games(call: Call) -> dict[str, Any]:
    return {
        "games": catalogue(),
        "batch_endpoint": "POST /api/v1/bets/batch",
        "note": "All bets enforce Kelly Criterion max sizing. "
        "Use GET /api/v1/kelly/limits to see your current limits.",
    }


@service.route("POST", f"{API}/games/:game", auth="required", ip_limit=60)
def play(call: Call) -> dict[str, Any]:
    build = ROUTE_GAMES.get(call.params["game"])
    if build is None:
        raise service.not_found(call.method, call.path)
    _agent_limit(call, "games", 60, "Max 60 game requests/min")
    body = call.body
    return _play(call, build(body), body.get("amount"), body.get("client_seed"))


@service.route("POST", f"{API}/bets/batch", auth="required", ip_limit=60)
def batch(call: Call) -> dict[str, Any]:
    _agent_limit(call, "batch", 10, "Max 10 batch calls/min")
    bets = call.body.get("bets")
    if not isinstance(bets, list) or not bets:
        raise SimError(400, "invalid_bets", "Provide an array of bets")
    if len(bets) > 20:
        raise SimError(400, "too_many_bets", "Maximum 20 bets per batch call")
    results: list[dict[str, Any]] = []
    for item in bets:
        bet: dict[str, Any] = item if isinstance(item, dict) else {}
        try:
            results.append(_play(call, batch_wager(bet), bet.get("amount"), bet.get("client_seed")))
        except SimError as exc:
            results.append(exc.body)
    account = call.state.book(Bank).require(call.agent)
    return {
        "results": results,
        "summary": batch_summary(len(bets), results),
        "balance_after": round2(account.balance),
        "kelly_max_next_bet": round2(account.balance * account.risk_factor),
    }


@service.route("GET", f"{API}/bets/history", auth="required", ip_limit=60)
def history(call: Call) -> dict[str, Any]:
    _, book, a = _books(call)
    q = call.query
    game, outcome, since_text = q.get("game"), q.get("outcome"), q.get("since")
    limit = min(parse_int(q.get("limit"), 50), 200)
    offset = parse_int(q.get("offset"), 0)
    rows = list(reversed(book.bets_of.get(a.agent_id, [])))
    if game:
        if game not in HISTORY_GAMES.split(", "):
            raise SimError(400, "invalid_game", f"game must be one of: {HISTORY_GAMES}")
        rows = [b for b in rows if b.game == game]
    if outcome in ("won", "lost"):
        rows = [b for b in rows if b.won == (outcome == "won")]
    since = parse_since(since_text)
    if since is not None:
        rows = [b for b in rows if math.floor(b.created_at) >= math.floor(since)]
    return {
        **history_page(rows, limit, offset),
        "filters": {"game": game, "outcome": outcome, "since": since_text},
        "tip": "Add ?game=slots&outcome=won to filter. ?since=2026-02-01 for date range.",
    }


# --- Kelly and fairness -------------------------------------------------------------------


@service.route("GET", f"{API}/kelly/limits", auth="required")
def kelly_limits(call: Call) -> dict[str, Any]:
    _, _, a = _books(call)
    return all_game_limits(a.balance, a.risk_factor)


@service.route("PUT", f"{API}/kelly/config", auth="required")
def kelly_config(call: Call) -> dict[str, Any]:
    _, _, a = _books(call)
    risk = call.body.get("risk_factor")
    if not is_number(risk) or risk < 0.1 or risk > 1.0:
        raise SimError(
            400,
            "invalid_risk_factor",
            "risk_factor must be between 0.1 and 1.0",
            suggestion="0.1=ultra conservative, 0.25=default, 0.5=aggressive, 1.0=full Kelly",
        )
    a.risk_factor = risk
    return {
        "risk_factor": risk,
        "message": f"Risk factor updated to {js_str(risk)}",
        "new_limits": all_game_limits(a.balance, risk),
    }


@service.route("GET", f"{API}/fairness/seed-hash", auth="required")
def seed_hash(call: Call) -> dict[str, Any]:
    _, book, a = _books(call)
    return {
        "server_seed_hash": book.seed_for(a.agent_id).hash,
        "note": "This hash commits to a server seed. After seed rotation, the seed is "
        "revealed so you can verify all bets made with it.",
        "how_to_verify": [
            "1. Note this hash before placing bets",
            "2. Provide your own client_seed when betting",
            "3. After seed rotation, GET /api/v1/fairness/seeds to see revealed seeds",
            "4. POST /api/v1/fairness/verify with bet_id to verify any past bet",
        ],
    }


@service.route("POST", f"{API}/fairness/verify", auth="required")
def verify(call: Call) -> dict[str, Any]:
    bet_id = call.body.get("bet_id")
    if not js_truthy(bet_id):
        return manual_proof(call.body)
    bet = call.state.book(CasinoBook).bets.get(bet_id) if isinstance(bet_id, str) else None
    if bet is None:
        raise SimError(404, "bet_not_found", f"No bet found with id: {js_str(bet_id)}")
    return bet.proof()


@service.route("POST", f"{API}/fairness/rotate", auth="required")
def rotate(call: Call) -> dict[str, Any]:
    _, book, a = _books(call)
    old = book.active.get(a.agent_id)
    if old is None:
        return {"message": "No active seed to rotate"}
    new = book.rotate(old)
    return {
        "message": "Seed rotated successfully",
        "previous_seed": {
            "seed": old.seed,
            "seed_hash": old.hash,
            "bets_made": old.nonce,
            "note": "This seed is now revealed. You can verify all bets made with it.",
        },
        "new_seed_hash": new.hash,
    }

"""The casino's rules, free of state: provably-fair rolls, the games, the Kelly cap, and the
fixed tables (game catalogue, deposit chains) the server answers with.

Re-implemented from the public casino server (engine/fairness.ts, engine/games.ts,
engine/kelly.ts) so that proofs verify and payouts match to the last float bit: every
expression keeps the order of operations of the original.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ._core import SimError, is_number, iso, round2, round4, sha256_hex

HOUSE_EDGE = 0.005
MIN_BET = 0.01
ROTATE_AFTER = 1000  # the server seed is revealed and replaced after this many bets
RED_NUMBERS = frozenset({1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36})

Settle = Callable[[float], tuple[bool, dict[str, Any]]]


# --- provably fair ------------------------------------------------------------------------


def result_hash(server_seed: str, client_seed: str, nonce: int | str) -> str:
    """HMAC-SHA256 keyed by the server seed over ``"{client_seed}:{nonce}"``, as hex."""
    message = f"{client_seed}:{nonce}".encode()
    return hmac.new(server_seed.encode(), message, hashlib.sha256).hexdigest()


def roll_of(digest: str) -> float:
    """The roll 0.00-99.99 a result hash stands for: first 8 hex digits, mod 10000, / 100."""
    return (int(digest[:8], 16) % 10000) / 100


# --- JavaScript semantics the server's answers depend on ----------------------------------


def to_fixed2(x: float) -> str:
    """``Number.prototype.toFixed(2)``: the exact binary value, ties away from zero."""
    return str(Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def js_str(value: Any) -> str:
    """How a JSON value reads inside a JavaScript template string (missing reads undefined)."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON value (empty arrays and objects are truthy)."""
    return not (value is None or value is False or value == "" or (is_number(value) and value == 0))


def js_or(value: Any, default: Any) -> Any:
    """``value || default``: JavaScript's falsy values fall back to the default."""
    return value if js_truthy(value) else default


def parse_int(text: str | None, default: int) -> int:
    """``parseInt(text || default)``, keeping the default where JavaScript would get NaN."""
    m = re.match(r"\s*[+-]?\d+", text or "")
    return int(m.group()) if m else default


def parse_since(text: str | None) -> float | None:
    """``new Date(since)`` for the history filter; None where it is not a date."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def pct(part: int, whole: int) -> float:
    """``Math.round((part / whole) * 10000) / 100``, or 0 for an empty set."""
    return math.floor(part / whole * 10000 + 0.5) / 100 if whole else 0


# --- games --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wager:
    """A validated game choice: its odds and payout, and how a roll settles it."""

    game: str
    win_prob: float  # the odds the Kelly cap is checked against before the bet
    payout: float
    settle: Settle
    kelly_prob: float  # the odds the post-bet ``kelly`` block uses (getWinProbForGame)


def _bad(code: str, message: str) -> SimError:
    return SimError(400, code, message)


def _in_range(value: Any, low: float, high: float) -> bool:
    return is_number(value) and low <= value <= high


def crash_point(roll: float) -> float:
    return 10000 if roll >= 99.99 else round2((1 - HOUSE_EDGE) / (1 - roll / 100))


def coin_flip(side: Any) -> Wager:
    def settle(roll: float) -> tuple[bool, dict[str, Any]]:
        outcome = "heads" if roll < 50 else "tails"
        return outcome == side, {"side_chosen": side, "outcome": outcome, "roll": round2(roll)}

    return Wager("coin_flip", 0.5, 1.99, settle, 0.5)


def dice(direction: Any, threshold: Any) -> Wager:
    if not _in_range(threshold, 1, 99):
        raise _bad("invalid_threshold", "Threshold must be between 1 and 99")
    over = direction == "over"
    win_prob = (100 - threshold) / 100 if over else threshold / 100
    fair = 1 / win_prob
    payout = round4(fair * (1 - HOUSE_EDGE))

    def settle(roll: float) -> tuple[bool, dict[str, Any]]:
        value = math.floor(roll) + 1
        won = value > threshold if over else value < threshold
        result = {
            "direction": direction,
            "threshold": threshold,
            "dice_value": value,
            "win_probability": round4(win_prob),
            "roll": round2(roll),
        }
        return won, result

    return Wager("dice", win_prob, payout, settle, round4(win_prob) or 0.5)


def multiplier(target: Any) -> Wager:
    if not _in_range(target, 1.01, 1000):
        raise _bad("invalid_multiplier", "Target multiplier must be between 1.01x and 1000x")
    win_prob = (1 - HOUSE_EDGE) / target

    def settle(roll: float) -> tuple[bool, dict[str, Any]]:
        point = crash_point(roll)
        result = {
            "target_multiplier": target,
            "crash_point": point,
            "win_probability": round4(win_prob),
            "roll": round2(roll),
        }
        return point >= target, result

    return Wager("multiplier", win_prob, target, settle, round4(win_prob) or 0.5)


def crash(cash_out_at: Any) -> Wager:
    if not _in_range(cash_out_at, 1.01, 100):
        raise _bad("invalid_cashout", "Cash-out multiplier must be between 1.01x and 100x")
    win_prob = (1 - HOUSE_EDGE) / cash_out_at

    def settle(roll: float) -> tuple[bool, dict[str, Any]]:
        point = crash_point(roll)
        won = point >= cash_out_at
        result = {
            "cash_out_at": cash_out_at,
            "crash_point": point,
            "cashed_out": won,
            "win_probability": round4(win_prob),
            "roll": round2(roll),
        }
        return won, result

    return Wager("crash", win_prob, cash_out_at, settle, round4(win_prob) or 0.5)


_ROULETTE_WINS: dict[str, Callable[[int], bool]] = {
    "red": lambda n: n in RED_NUMBERS,
    "black": lambda n: n > 0 and n not in RED_NUMBERS,
    "odd": lambda n: n > 0 and n % 2 == 1,
    "even": lambda n: n > 0 and n % 2 == 0,
    "high": lambda n: n >= 19,
    "low": lambda n: 1 <= n <= 18,
    "dozen_1": lambda n: 1 <= n <= 12,
    "dozen_2": lambda n: 13 <= n <= 24,
    "dozen_3": lambda n: 25 <= n <= 36,
    "column_1": lambda n: n > 0 and n % 3 == 1,
    "column_2": lambda n: n > 0 and n % 3 == 2,
    "column_3": lambda n: n > 0 and n % 3 == 0,
}


def roulette(bet_type: Any, bet_value: Any) -> Wager:
    if bet_type == "number":
        if not _in_range(bet_value, 0, 36):
            raise _bad("invalid_number", "Number must be 0-36")
        win_prob, payout = 1 / 37, round4(35 * (1 - HOUSE_EDGE))
        wins: Callable[[int], bool] = lambda n: n == bet_value  # noqa: E731
    elif isinstance(bet_type, str) and bet_type in _ROULETTE_WINS:
        wins = _ROULETTE_WINS[bet_type]
        even_money = bet_type in ("red", "black", "odd", "even", "high", "low")
        win_prob = 18 / 37 if even_money else 12 / 37
        payout = round4((2 if even_money else 3) * (1 - HOUSE_EDGE))
    else:
        raise _bad("invalid_bet_type", f"Unknown bet type: {js_str(bet_type)}")

    def settle(roll: float) -> tuple[bool, dict[str, Any]]:
        number = math.floor(roll * 37 / 100)
        color = "green" if number == 0 else "red" if number in RED_NUMBERS else "black"
        result: dict[str, Any] = {"bet_type": bet_type}
        if bet_value is not None:  # undefined drops out of the JSON
            result["bet_value"] = bet_value
        result.update(number=number, color=color, win_probability=round4(win_prob))
        result["roll"] = round2(roll)
        return wins(number), result

    return Wager("roulette", win_prob, payout, settle, round4(win_prob) or 18 / 37)


def custom(win_probability_pct: Any) -> Wager:
    if not _in_range(win_probability_pct, 1, 99):
        raise _bad("invalid_probability", "Win probability must be between 1% and 99%")
    pct = win_probability_pct
    win_prob = pct / 100
    fair = 1 / win_prob
    payout = round4(fair * (1 - HOUSE_EDGE))

    def settle(roll: float) -> tuple[bool, dict[str, Any]]:
        result = {
            "win_probability_pct": pct,
            "payout_multiplier": payout,
            "roll": round2(roll),
            "threshold": pct,
        }
        return roll < pct, result

    return Wager("custom", win_prob, payout, settle, (pct or 50) / 100)


# --- from a request body to a wager ------------------------------------------------------


def _side(body: dict[str, Any]) -> Wager:
    if body.get("side") not in ("heads", "tails"):
        raise _bad("invalid_side", "Side must be 'heads' or 'tails'")
    return coin_flip(body["side"])


def _direction(body: dict[str, Any]) -> Wager:
    if body.get("direction") not in ("over", "under"):
        raise _bad("invalid_direction", "Direction must be 'over' or 'under'")
    return dice(body["direction"], body.get("threshold"))


Build = Callable[[dict[str, Any]], Wager]
ROUTE_GAMES: dict[str, Build] = {  # POST /games/<path>
    "coin-flip": _side,
    "dice": _direction,
    "multiplier": lambda b: multiplier(b.get("target_multiplier")),
    "crash": lambda b: crash(b.get("cash_out_at")),
    "roulette": lambda b: roulette(b.get("bet_type"), b.get("bet_value")),
    "custom": lambda b: custom(b.get("win_probability")),
}
# A batch item skips the route checks (an unknown side just loses) and missing or falsy
# fields take the server's defaults (``bet.side || "heads"``).
BATCH_GAMES: dict[str, Build] = {
    "coin_flip": lambda b: coin_flip(js_or(b.get("side"), "heads")),
    "dice": lambda b: dice(js_or(b.get("direction"), "over"), js_or(b.get("threshold"), 50)),
    "multiplier": lambda b: multiplier(js_or(b.get("target_multiplier"), 2)),
    "roulette": lambda b: roulette(js_or(b.get("bet_type"), "red"), b.get("bet_value")),
    "custom": lambda b: custom(js_or(b.get("win_probability"), 50)),
    "crash": lambda b: crash(js_or(b.get("cash_out_at"), 2)),
}
HISTORY_GAMES = "coin_flip, dice, multiplier, roulette, custom, blackjack, crash, plinko, slots"


def batch_wager(bet: dict[str, Any]) -> Wager:
    game = bet.get("game")
    build = BATCH_GAMES.get(game) if isinstance(game, str) else None
    if build is None:
        raise _bad("unknown_game", f"Unknown game: {js_str(game)}")
    return build(bet)


# (id, name, payout, path, params) as GET /games lists them; the texts are the server's own.
_CATALOGUE = (
    ("coin_flip", "Coin Flip", "1.96x", "coin-flip", {"side": "heads | tails"}),
    ("dice", "Dice Roll", "Variable (e.g. over 50 = 1.96x, over 90 = 9.8x)", "dice",
     {"direction": "over | under", "threshold": "1-99"}),
    ("multiplier", "Multiplier (Crash)", "Your target multiplier (1.01x - 1000x)",
     "multiplier", {"target_multiplier": "1.01-1000"}),
    ("roulette", "Roulette", "Varies by bet type", "roulette",
     {"bet_type": "number | red | black | odd | even | high | low | dozen_1 | dozen_2 | "
      "dozen_3 | column_1 | column_2 | column_3", "bet_value": "0-36 (for number bets)"}),
    ("custom", "Custom Odds", "Calculated: (1 / probability) * 0.98", "custom",
     {"win_probability": "1-99 (percentage)"}),
    ("crash", "Crash", "Your cash-out multiplier (1.01x - 100x)", "crash",
     {"cash_out_at": "1.01-100 (multiplier)"}),
)  # fmt: skip


def catalogue() -> list[dict[str, Any]]:
    tail = {"amount": "number", "client_seed": "string (optional)"}
    return [
        {"id": gid, "name": name, "house_edge": "0.5%", "payout": payout,
         "endpoint": f"POST /api/v1/games/{path}", "params": {**params, **tail}}
        for gid, name, payout, path, params in _CATALOGUE
    ]  # fmt: skip


# --- seeds and bets, and the bodies the routes build from them ---------------------------


@dataclass
class Seed:
    """A server seed: committed by its hash, revealed when it rotates."""

    id: int
    seed: str
    hash: str
    agent_id: str
    created_at: float
    nonce: int = 0
    active: bool = True
    revealed_at: float | None = None


@dataclass
class Bet:
    """One settled bet as the casino stores it."""

    id: str
    agent_id: str
    game: str
    amount: float
    payout: float
    result: dict[str, Any]
    won: bool
    amount_won: float
    seed: Seed
    client_seed: str
    nonce: int
    result_hash: str
    created_at: float

    def result_body(self, balance: float, risk: float, kelly: dict[str, Any]) -> dict[str, Any]:
        """The ``BetResult`` a play returns; ``kelly`` is the cap after the bet."""
        return {
            "bet_id": self.id,
            "game": self.game,
            "amount_bet": self.amount,
            "result": self.result,
            "won": self.won,
            "payout_multiplier": self.payout,
            "amount_won": round2(self.amount_won),
            "new_balance": round2(balance),
            "proof": {
                "server_seed_hash": self.seed.hash,
                "client_seed": self.client_seed,
                "nonce": self.nonce,
                "result_hash": self.result_hash,
            },
            "kelly": {
                "bankroll": round2(balance),
                "risk_factor": risk,
                "max_bet_this_game": kelly["max_bet"],
                "bets_until_ruin": kelly["bets_until_ruin"],
                "suggested_bet": kelly["suggested_bet"],
            },
        }

    def history_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "game": self.game,
            "amount": round2(self.amount),
            "amount_won": round2(self.amount_won),
            "multiplier": self.payout,
            "won": self.won,
            "net": round2(self.amount_won - self.amount),
            "verify": f"GET /api/v1/fairness/verify?hash={self.result_hash}",
            "at": iso(math.floor(self.created_at)),
        }

    def proof(self) -> dict[str, Any]:
        """``POST /fairness/verify {bet_id}``: the proof once the seed is revealed."""
        seed, cs, nonce = self.seed, self.client_seed, self.nonce
        if seed.revealed_at is None:
            return {
                "bet_id": self.id,
                "status": "seed_not_yet_revealed",
                "server_seed_hash": seed.hash,
                "client_seed": cs,
                "nonce": nonce,
                "result_hash": self.result_hash,
                "message": "Server seed will be revealed when it rotates (every 1000 bets or on "
                "request). You can verify the result_hash matches the server_seed_hash "
                "commitment.",
                "note": "Request seed rotation via POST /api/v1/fairness/rotate to reveal the "
                "seed now.",
            }
        valid = sha256_hex(seed.seed) == seed.hash
        computed = roll_of(result_hash(seed.seed, cs, nonce))
        return {
            "bet_id": self.id,
            "verified": valid,
            "game": self.game,
            "result": dict(self.result),
            "won": self.won,
            "amount_bet": self.amount,
            "amount_won": self.amount_won,
            "proof": {
                "server_seed": seed.seed,
                "server_seed_hash": seed.hash,
                "client_seed": cs,
                "nonce": nonce,
                "result_hash": self.result_hash,
                "computed_result": computed,
                "hash_matches": valid,
            },
            "how_to_verify_yourself": [
                f'1. Compute: SHA256("{seed.seed}") should equal "{seed.hash}"',
                f'2. Compute: HMAC-SHA256(server_seed, "{cs}:{nonce}") to get result hash',
                "3. Take first 8 hex chars of result hash, convert to int, mod 10000, divide by "
                f"100 = {js_str(computed)}",
                "4. Map the result to the game outcome using the game rules",
            ],
        }


def history_page(rows: list[Bet], limit: int, offset: int) -> dict[str, Any]:
    """``GET /bets/history``: one page of the (filtered, newest first) bets and their totals."""
    start = max(offset, 0)
    page = rows[start:] if limit < 0 else rows[start : start + limit]  # LIMIT -1: no limit
    wagered, won = sum(b.amount for b in rows), sum(b.amount_won for b in rows)
    return {
        "bets": [b.history_row() for b in page],
        "pagination": {
            "total": len(rows),
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(page) < len(rows),
        },
        "summary": {
            "total_bets": len(rows),
            "total_wagered": round2(wagered),
            "total_won_amount": round2(won),
            "net_pnl": round2(won - wagered),
            "win_rate_pct": pct(sum(1 for b in rows if b.won), len(rows)),
            "biggest_win": round2(max((b.amount_won for b in rows), default=0)),
        },
    }


def batch_summary(total: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``summary`` of ``POST /bets/batch``, failed items counted as errors."""
    settled = [r for r in results if "error" not in r]
    won = sum(1 for r in settled if r["won"])
    # Upstream sums ``amount``, a field no bet result has: total_wagered is always 0 and
    # net_pnl is really total_won. Reproduced on purpose.
    wagered = sum(r.get("amount", 0) for r in settled)
    total_won = sum(r["amount_won"] for r in settled)
    return {
        "total": total,
        "won": won,
        "lost": len(settled) - won,
        "errors": len(results) - len(settled),
        "total_wagered": round2(wagered),
        "total_won": round2(total_won),
        "net_pnl": round2(total_won - wagered),
        "win_rate_pct": pct(won, len(settled)),
    }


def manual_proof(body: dict[str, Any]) -> dict[str, Any]:
    """``POST /fairness/verify`` with the seeds and nonce given instead of a bet id."""
    secret, committed = body.get("server_seed"), body.get("server_seed_hash")
    cs, nonce = body.get("client_seed"), body.get("nonce")
    if not (js_truthy(secret) and js_truthy(committed) and js_truthy(cs)) or nonce is None:
        message = "Provide bet_id OR (server_seed, server_seed_hash, client_seed, nonce)"
        raise SimError(400, "missing_params", message)
    digest = result_hash(js_str(secret), js_str(cs), js_str(nonce))
    valid = sha256_hex(js_str(secret)) == committed
    return {
        "verified": valid,
        "result": roll_of(digest),
        "result_hash": digest,
        "hash_matches": valid,
    }


# --- deposits -----------------------------------------------------------------------------

# chain: (send_token, auto_swap, swap_fee, minimum, note, send_instructions)
CHAINS: dict[str, tuple[str, bool, str, str, str, str]] = {
    "base": ("USDC", False, "0%", "$0.50", "Lowest fees — direct USDC credit, no swap",
             "Send USDC (ERC-20) on Base network to this address"),
    "ethereum": ("ETH, USDC, or USDT", True, "0.1–0.3%", "$0.50 equivalent",
                 "Auto-swapped to Base USDC via Wagyu — ETH gas fees apply",
                 "Send ETH, USDC, or USDT on Ethereum mainnet to this address"),
    "bsc": ("BNB, USDT, or USDC", True, "0.1–0.3%", "$0.50 equivalent",
            "Auto-swapped to Base USDC via Wagyu",
            "Send BNB, USDT (BSC), or USDC (BSC) to this address"),
    "arbitrum": ("ETH, USDC, or USDT", True, "0.1–0.3%", "$0.50 equivalent",
                 "Auto-swapped to Base USDC via Wagyu — low fees",
                 "Send ETH, USDC, or USDT on Arbitrum One to this address"),
    "solana": ("SOL", True, "0.1–0.3%", "$0.50 equivalent",
               "Auto-swapped to Base USDC via Wagyu — manual sweep in v1",
               "Send SOL to this Solana address"),
    "bitcoin": ("BTC", True, "0.1–0.5% + BTC mining fee", "~$5 (min Wagyu swap)",
                "Auto-swapped to Base USDC via Wagyu — allow 1 confirmation",
                "Send BTC to this native SegWit (bech32) address"),
    "tron": ("USDT", False, "0%", "$0.50", "USDT TRC-20 — manual sweep to treasury in v1",
             "Send USDT (TRC-20) on the Tron network to this address"),
    "monero": ("XMR", True, "0.1–0.3%", "$0.50 equivalent",
               "Private XMR deposits — auto-swapped to Base USDC via Wagyu",
               "Send XMR to this Monero primary address"),
}  # fmt: skip


# --- Kelly --------------------------------------------------------------------------------


def kelly_optimal(bankroll: float, p: float, payout: float, risk_factor: float) -> dict[str, Any]:
    """The casino's Kelly block; negative-EV games get max_bet = bankroll x risk x p."""
    b = payout - 1
    q = 1 - p
    kelly_fraction = (b * p - q) / b
    fraction = risk_factor * p if kelly_fraction <= 0 else kelly_fraction * risk_factor
    max_bet = bankroll * fraction
    suggested = max_bet * 0.5
    return {
        "max_bet": round2(max_bet),
        "kelly_fraction": round4(kelly_fraction),
        "adjusted_fraction": round4(fraction),
        "edge": round4(p * payout - 1),
        "expected_value_per_bet": round4(suggested * (p * payout - 1)),
        # Infinity in JavaScript, which JSON.stringify writes as null
        "bets_until_ruin": math.floor(bankroll / max_bet) if max_bet > 0 else None,
        "suggested_bet": round2(suggested),
        "growth_rate": round4(p * math.log(1 + fraction * b) + q * math.log(1 - fraction)),
    }


_LIMIT_TABLE = (
    ("coin_flip", 0.5, 1.96),
    ("dice_over_50", 0.5, 1.96),
    ("dice_over_75", 0.25, 3.92),
    ("dice_over_90", 0.1, 9.8),
    ("dice_over_95", 0.05, 19.6),
    ("custom_25pct", 0.25, 3.92),
    ("custom_50pct", 0.5, 1.96),
    ("custom_75pct", 0.75, 1.3067),
    ("roulette_red", 18 / 37, 1.96),
    ("roulette_number", 1 / 37, 35.28),
)


def all_game_limits(bankroll: float, risk_factor: float) -> dict[str, Any]:
    """``GET /kelly/limits``; the table keeps the server's older 2%-edge payouts."""
    limits = {name: kelly_optimal(bankroll, p, pay, risk_factor) for name, p, pay in _LIMIT_TABLE}
    return {"bankroll": bankroll, "risk_factor": risk_factor, "limits": limits}

"""The domains service: domain search and purchase paid from a USDC balance of its own.

Faithful to the public domains server (``src/index.ts``): its own agents (UUID ids,
``sk_domains_`` keys), per-year TLD prices that include the registrar markup, and a 3-level
referral commission (15 % of the purchase, then half, then a quarter) paid into the referrers'
domains balances. The registrar behind it is simulated: every domain nobody registered here is
available, and every purchase registers at once (status ``active``). The balance is funded with
the simulator control ``POST /_sim/credit {"service": "domains"}`` (the real path is a USDC
transfer and a support ticket).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ._core import Call, Reply, Service, SimError, SimState, iso, round2
from ._core import health as health_body

KEY_PREFIX = "sk_domains_"
REFERRAL_RATE = 0.15
REFERRAL_LEVELS = (1.0, 0.5, 0.25)
DEPOSIT_ADDRESS = "0x632881b5f5384e872d8b701dd23f08e63a52faee"

# USDC per year, markup included.
TLD_PRICES: dict[str, float] = {
    "com": 18,
    "net": 18,
    "org": 18,
    "io": 54,
    "ai": 102,
    "co": 36,
    "xyz": 14.40,
    "app": 24,
    "dev": 18,
    "vc": 72,
    "cx": 48,
    "club": 14.40,
    "site": 18,
    "online": 18,
    "tech": 42,
    "me": 24,
    "cc": 30,
    "info": 18,
    "biz": 18,
}
# (category, popular, note) shown by GET /tlds.
TLD_META: dict[str, tuple[str, bool, str]] = {
    "com": ("classic", True, "Most trusted TLD"),
    "net": ("classic", True, "Networking / tech"),
    "org": ("classic", False, "Non-profits / communities"),
    "io": ("tech", True, "Popular for startups & APIs"),
    "ai": ("tech", True, "AI projects — highest demand"),
    "co": ("classic", True, "Short for company/commerce"),
    "xyz": ("modern", True, "Cheap & versatile"),
    "app": ("tech", True, "Apps and SaaS"),
    "dev": ("tech", True, "Developers"),
    "vc": ("finance", False, "Venture capital / investment"),
    "cx": ("modern", False, "Customer experience"),
    "club": ("community", False, "Communities and DAOs"),
    "site": ("modern", False, "Generic website"),
    "online": ("modern", False, "Generic online presence"),
    "tech": ("tech", False, "Technology companies"),
    "me": ("personal", False, "Personal sites / portfolios"),
    "cc": ("modern", False, "Short alternative to .com"),
    "info": ("classic", False, "Information sites"),
    "biz": ("classic", False, "Business sites"),
}
_LABEL = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?")
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")

# The 401 bodies of the domains server's own auth check (src/index.ts ``requireAuth``).
MISSING_KEY = "Missing Authorization header. Use: Bearer <api_key>"
INVALID_KEY = "Invalid API key"


def is_valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return len(labels) >= 2 and all(_LABEL.fullmatch(label) for label in labels)


def tld_of(domain: str) -> str | None:
    labels = domain.split(".")
    return labels[-1].lower() if len(labels) >= 2 else None


def price_of(domain: str) -> float | None:
    tld = tld_of(domain)
    return TLD_PRICES.get(tld) if tld is not None else None


def years_of(value: object) -> int:
    """``max(1, min(10, parseInt(years ?? "1", 10) || 1))``."""
    if value is None:
        return 1
    text = str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        text = str(int(value))  # String(2.0) is "2"; String(1e21) is "1e+21", like Python
    m = _LEADING_INT.match(text)
    years = int(m.group(1)) if m else 0
    return max(1, min(10, years or 1))


def _add_years(epoch: float, years: int) -> str:
    """The date ``years`` after ``epoch`` (29 February rolls to 1 March, as in JavaScript)."""
    start = datetime.fromtimestamp(epoch, UTC)
    try:
        end = start.replace(year=start.year + years)
    except ValueError:
        end = start.replace(year=start.year + years, month=3, day=1)
    return end.date().isoformat()


@dataclass
class DomainsAgent:
    id: str
    referrer_id: str | None
    created_at: int
    balance_usdc: float = 0.0


@dataclass
class Domain:
    id: str
    agent_id: str
    domain_name: str
    expiry: str | None
    registered_at: int
    status: str = "active"


class DomainsBook:
    """Domains agents, their balances and registered domains (one per simulator state)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.agents: dict[str, DomainsAgent] = {}
        self.domains: dict[str, Domain] = {}
        self.referral_earnings: list[dict[str, Any]] = []

    def credit(self, agent_id: str, amount: float) -> float | None:
        """Add to a balance; the new balance, or None for an unknown agent."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return None
        agent.balance_usdc += amount
        return agent.balance_usdc

    def agent(self, agent_id: str) -> DomainsAgent:
        agent = self.agents.get(agent_id)
        if agent is None:  # a key whose agent vanished: only after /_sim/reset races
            raise SimError(401, "unauthorized", INVALID_KEY)
        return agent

    def pay_referrers(self, buyer: DomainsAgent, domain: str, cost: float) -> None:
        referred, referrer_id = buyer.id, buyer.referrer_id
        for multiplier in REFERRAL_LEVELS:
            if referrer_id is None:
                return
            amount = round2(cost * REFERRAL_RATE * multiplier)
            if amount >= 0.01 and self.credit(referrer_id, amount) is not None:
                self.referral_earnings.append(
                    {
                        "referrer_id": referrer_id,
                        "referred_id": referred,
                        "domain": domain,
                        "amount_usdc": amount,
                    }
                )
            upline = self.agents.get(referrer_id)
            referred, referrer_id = referrer_id, upline.referrer_id if upline else None


def _unauthorized(missing_header: bool) -> SimError:
    return SimError(401, "unauthorized", MISSING_KEY if missing_header else INVALID_KEY)


service = Service(
    "domains",
    realm="domains",
    unauthorized=_unauthorized,
    info={
        "service": "agent-domains",
        "docs": "https://domains.purpleflea.com/llms.txt",
        "referral": "GET /gossip for passive income info",
        "version": "1.0.0",
    },
)


@service.route("GET", "/health")
def health(call: Call) -> dict[str, Any]:
    return health_body(call, "agent-domains", "1.0.0", len(call.state.book(DomainsBook).agents))


@service.route("POST", "/register", ip_limit=10)
def register(call: Call) -> Reply:
    book = call.state.book(DomainsBook)
    code = call.body.get("referral_code")  # a domains referral code is the referrer's agent id
    agent_id = call.state.uuid4()
    api_key = call.state.keys.issue("domains", agent_id, KEY_PREFIX)
    referrer = book.agents.get(code) if isinstance(code, str) else None
    book.agents[agent_id] = DomainsAgent(
        agent_id, referrer.id if referrer else None, int(call.now())
    )
    return Reply(
        {
            "api_key": api_key,
            "agent_id": agent_id,
            "message": "Store your API key securely — it cannot be recovered. "
            "Use Authorization: Bearer <api_key> on all requests.",
        },
        201,
    )


def _tld_row(tld: str, price: float) -> dict[str, Any]:
    category, popular, note = TLD_META.get(tld, ("other", False, None))
    return {
        "tld": f".{tld}",
        "price_usdc_per_year": price,
        "price_2yr": round2(price * 2),
        "price_5yr": round2(price * 5),
        "category": category,
        "popular": popular,
        "note": note,
    }


@service.route("GET", "/tlds")
def tlds(call: Call) -> dict[str, Any]:
    rows = [_tld_row(tld, price) for tld, price in TLD_PRICES.items()]
    by_category: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_category.setdefault(row["category"], []).append(row)
    return {
        "total_tlds": len(rows),
        "popular_tlds": [row for row in rows if row["popular"]],
        "by_category": by_category,
        "all_tlds": rows,
        "pricing_note": "Prices in USDC. Annual renewal at same rate.",
        "payment": "USDC on Base network. POST /wallet/deposit to fund account.",
    }


def _search_one(book: DomainsBook, domain: str, tld: str) -> dict[str, Any]:
    """One row of the multi-TLD search."""
    row: dict[str, Any] = {
        "domain": domain,
        "available": False,
        "price_usdc": None,
        "tld": f".{tld}",
    }
    price = price_of(domain)
    if not is_valid_domain(domain):
        row["error"] = "invalid_domain"
    elif price is None:
        row["error"] = "unsupported_tld"
    elif domain not in book.domains:
        row.update(available=True, price_usdc=price)
    return row


@service.route("GET", "/search", ip_limit=60)
def search(call: Call) -> dict[str, Any]:
    book = call.state.book(DomainsBook)
    name, tlds_param = call.query.get("name"), call.query.get("tlds")
    if not name:
        raise SimError(
            400, "missing_param", "Provide ?name=example.com or ?name=myproject&tlds=com,io,ai"
        )
    if tlds_param and "." not in name:
        wanted = [t.strip().removeprefix(".").lower() for t in tlds_param.split(",")]
        base = name.lower().strip()
        results = [_search_one(book, f"{base}.{tld}", tld) for tld in wanted]
        return {
            "query": name,
            "results": results,
            "available_count": sum(1 for r in results if r["available"]),
            "note": "Availability is estimated",
        }

    domain = name.lower().strip()
    if not is_valid_domain(domain):
        raise SimError(400, "invalid_domain", "Invalid domain name format")
    price, tld = price_of(domain), tld_of(domain)
    if tld is None or price is None:
        return {
            "domain": domain,
            "available": False,
            "price_usdc": None,
            "tld": f".{tld}" if tld else None,
            "note": "TLD not supported. GET /tlds for supported TLDs.",
            "supported_tlds": [f".{t}" for t in TLD_PRICES],
        }
    if domain in book.domains:
        return {
            "domain": domain,
            "available": False,
            "price_usdc": None,
            "tld": f".{tld}",
            "note": "Already registered in this system",
        }
    return {
        "domain": domain,
        "available": True,
        "price_usdc": price,
        "price_2yr": round2(price * 2),
        "price_5yr": round2(price * 5),
        "tld": f".{tld}",
        "note": "Availability is estimated",
        "next_step": f'POST /domains/purchase with {{"domain":"{domain}"}}',
    }


@service.route("POST", "/wallet/deposit", auth="required")
def deposit(call: Call) -> dict[str, Any]:
    return {
        "deposit_address": DEPOSIT_ADDRESS,
        "chain": "Base",
        "token": "USDC",
        "message": "Send USDC to this address. Contact support to credit your account.",
    }


@service.route("GET", "/wallet/balance", auth="required")
def balance(call: Call) -> dict[str, Any]:
    agent = call.state.book(DomainsBook).agent(call.agent)
    return {"balance_usdc": round2(agent.balance_usdc), "agent_id": agent.id}


@service.route("POST", "/domains/purchase", auth="required", ip_limit=5)
def purchase(call: Call) -> dict[str, Any]:
    book = call.state.book(DomainsBook)
    agent = book.agent(call.agent)
    raw = call.body.get("domain")
    domain = raw.lower().strip() if isinstance(raw, str) else ""
    years = years_of(call.body.get("years"))
    if not domain or not is_valid_domain(domain):
        raise SimError(400, "invalid_domain", "Provide a valid domain name (e.g. example.com)")
    price = price_of(domain)
    if price is None:
        raise SimError(400, "unsupported_tld", "TLD not supported. GET /tlds for the full list.")
    cost = round2(price * years)
    if domain in book.domains:
        raise SimError(409, "domain_taken", f"{domain} is already registered")
    if agent.balance_usdc < cost:
        raise SimError(
            402,
            "insufficient_balance",
            balance_usdc=round2(agent.balance_usdc),
            required_usdc=cost,
            message="Insufficient USDC balance. POST /wallet/deposit for deposit instructions.",
        )
    agent.balance_usdc -= cost
    now = call.now()
    book.domains[domain] = Domain(
        call.state.uuid4(), agent.id, domain, _add_years(now, years), int(now)
    )
    book.pay_referrers(agent, domain, cost)
    return {
        "domain": domain,
        "status": "active",
        "cost_usdc": cost,
        "balance_remaining": round2(agent.balance_usdc),
        "message": f"{domain} registered successfully",
    }


@service.route("GET", "/domains", auth="required")
def domains(call: Call) -> dict[str, Any]:
    owned = [d for d in call.state.book(DomainsBook).domains.values() if d.agent_id == call.agent]
    return {
        "domains": [
            {
                "domain_name": d.domain_name,
                "status": d.status,
                "expiry": d.expiry,
                "registered_at": iso(d.registered_at),
            }
            for d in owned
        ]
    }

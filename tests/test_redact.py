"""Redaction: secret names, headers, URLs, JSON and form bodies, and secrets in free text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guard._redact import (
    REDACTED,
    is_secret_name,
    redact_body,
    redact_headers,
    redact_json,
    redact_url,
    scrub,
)

HEX48 = "0123456789abcdef" * 3
HEX64 = "deadbeef" * 8
CASINO_KEY = f"sk_live_{HEX48}"
MNEMONIC = "legal winner thank year wave sausage worth useful legal winner thank yellow"

# ---------------------------------------------------------------- is_secret_name


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("apiKey", True),
        ("apikey", True),  # a known compound, no separator
        ("API_KEY", True),
        ("x-api-key", True),
        ("X-Service-Key", True),
        ("private_key", True),  # the wallet send body
        ("privateKey", True),
        ("privatekey", True),
        ("hl_signing_key", True),  # the trading register body
        ("hlSigningKey", True),
        ("mnemonic", True),  # the wallet create response
        ("seed_phrase", True),
        ("seedPhrase", True),
        ("password", True),
        ("passwd", True),
        ("pwd", True),
        ("secret", True),
        ("client_secret", True),
        ("access_token", True),
        ("refresh_token", True),
        ("Authorization", True),
        ("Proxy-Authorization", True),
        ("auth", True),
        ("Cookie", True),
        ("Set-Cookie", True),
        ("session_id", True),  # a session id is what a session cookie carries
        ("sessionid", True),
        ("credentials", True),
        ("otp", True),
        ("bearer", True),
        ("key", True),  # too often a credential to guess otherwise
        ("idempotency_key", False),  # a request id, needed to replay
        ("Idempotency-Key", False),
        ("idempotencyKey", False),
        ("token_count", False),  # a measure of tokens, not a token
        ("key_type", False),
        ("Content-Type", False),
        ("Content-Length", False),
        ("keyboard", False),  # whole words only
        ("monkey", False),
        ("kelly", False),
        ("author", False),
        ("amount", False),
        ("position_id", False),
        ("referral_code", False),
        ("client_seed", False),  # a public provably-fair input
        ("server_seed", False),  # sent only after the casino has revealed it
        ("server_seed_hash", False),
        ("tx_hash", False),
        ("agent_id", False),
        ("", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    """A name is secret by its word parts and known compounds, with documented exceptions."""
    assert is_secret_name(name) is secret


# ---------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("Authorization", f"Bearer {CASINO_KEY}", REDACTED),
        ("Proxy-Authorization", "Basic dXNlcjpwYXNz", REDACTED),
        ("Cookie", "sid=abc", REDACTED),
        ("Set-Cookie", "sid=abc; HttpOnly", REDACTED),
        ("X-API-Key", "pf_live_abc", REDACTED),
        ("X-Service-Key", "internal", REDACTED),
        ("X-Auth-Token", "t0k3n", REDACTED),
        ("Idempotency-Key", HEX64, HEX64),  # kept verbatim, even when it looks like a key
        ("Content-Type", "application/json", "application/json"),
        ("User-Agent", "agent/1.0", "agent/1.0"),
        ("Referer", f"https://x.test/?api_key={CASINO_KEY}", f"https://x.test/?api_key={REDACTED}"),
    ],
)
def test_headers(name: str, value: str, kept: str) -> None:
    """Secret headers are replaced, others scrubbed, the idempotency key kept; names lower-cased."""
    assert redact_headers([(name, value)]) == {name.lower(): kept}


# ---------------------------------------------------------------- URLs


def test_url_secret_query_values_and_userinfo_removed() -> None:
    """Secret query values are replaced and the userinfo dropped; each is reported."""
    url = f"https://bob:hunter2@wallet.test/v1/x?api_key={CASINO_KEY}&chain=base&token=t"
    clean, redacted = redact_url(url)
    assert clean == f"https://wallet.test/v1/x?api_key={REDACTED}&chain=base&token={REDACTED}"
    assert redacted == ["userinfo", "query:api_key", "query:token"]


def test_url_key_shaped_value_under_an_innocent_name() -> None:
    """A query value that looks like a key is masked whatever its parameter name."""
    clean, redacted = redact_url(f"https://x.test/search?q={CASINO_KEY}")
    assert clean == f"https://x.test/search?q={REDACTED}"
    assert redacted == ["query:q"]


def test_url_without_secrets_is_unchanged() -> None:
    """A URL with nothing to mask comes back byte for byte, encoding included."""
    url = "https://domains.test/search?name=x.ai&tlds=com%2Cio&flag"
    assert redact_url(url) == (url, [])


def test_url_key_in_path() -> None:
    """A key in the path is masked and reported."""
    clean, redacted = redact_url(f"https://x.test/keys/{CASINO_KEY}/revoke")
    assert clean == f"https://x.test/keys/{REDACTED}/revoke"
    assert redacted == ["path"]


# ---------------------------------------------------------------- JSON


def test_json_nested_with_lists() -> None:
    """Secret-named values of any type are replaced at any depth, and their paths reported."""
    body = {
        "chain": "base",
        "private_key": "0x" + HEX64,
        "items": [{"token": {"nested": 1}, "amount": "0.01"}, {"note": f"key {CASINO_KEY}"}],
        "auth": None,
    }
    clean, redacted = redact_json(body)
    assert clean == {
        "chain": "base",
        "private_key": REDACTED,
        "items": [{"token": REDACTED, "amount": "0.01"}, {"note": f"key {REDACTED}"}],
        "auth": REDACTED,
    }
    assert redacted == [
        "body.private_key",
        "body.items[0].token",
        "body.items[1].note",
        "body.auth",
    ]


def test_json_key_shaped_value_under_any_name() -> None:
    """A string that looks like a key is masked whatever its field name."""
    assert redact_json({"to": f"pk_live_{HEX48}"}) == ({"to": REDACTED}, ["body.to"])


def test_json_hash_fields_keep_their_hex() -> None:
    """A 64-hex value under a hash field is a public hash and is kept."""
    body = {"tx_hash": "0x" + HEX64, "proof": {"server_seed_hash": HEX64}, "txid": [HEX64]}
    assert redact_json(body) == (body, [])


def test_json_does_not_mutate_its_input() -> None:
    """The input is left as it was; the redacted value is a copy."""
    body = {"password": "p", "xs": [{"token": "t"}]}
    redact_json(body)
    assert body == {"password": "p", "xs": [{"token": "t"}]}


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("content_type", "content", "kept", "redacted"),
    [
        (
            "application/json",
            b'{"chain":"base","to":"0xabc","amount":"0.01","private_key":"0xfeed"}',
            '{"chain":"base","to":"0xabc","amount":"0.01","private_key":"[REDACTED]"}',
            ["body.private_key"],
        ),
        (
            "application/vnd.api+json; charset=utf-8",
            b'{"hl_signing_key": "k", "referral_code": "ref_1a2b3c4d"}',
            '{"hl_signing_key":"[REDACTED]","referral_code":"ref_1a2b3c4d"}',
            ["body.hl_signing_key"],
        ),
        (None, b'[{"amount": 1.5, "coin": "BTC"}]', '[{"amount":1.5,"coin":"BTC"}]', []),
        ("application/json", b'"just a string"', '"just a string"', []),
    ],
)
def test_json_bodies(
    content_type: str | None, content: bytes, kept: str, redacted: list[str]
) -> None:
    """JSON bodies, declared or not, come back compact, in order, with secrets masked."""
    assert redact_body(content, content_type) == (kept, redacted)


@pytest.mark.parametrize(
    ("content", "kept", "redacted"),
    [
        (b"amount=5&password=hunter2", f"amount=5&password={REDACTED}", ["body.password"]),
        (b"q=a+b&empty=&t=%7E", "q=a+b&empty=&t=%7E", []),  # untouched: kept byte for byte
        (f"ref={CASINO_KEY}".encode(), f"ref={REDACTED}", ["body.ref"]),
    ],
)
def test_form_bodies(content: bytes, kept: str, redacted: list[str]) -> None:
    """Form bodies come back form-encoded with secret-named and key-shaped values masked."""
    assert redact_body(content, "application/x-www-form-urlencoded") == (kept, redacted)


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b"private_key 0xfeed"),
        (None, b"plain words"),
        (None, b"42"),  # JSON, but not an object or array, and not declared as JSON
        ("application/octet-stream", bytes(range(256))),
        ("application/json", b"{not json"),
        ("application/x-www-form-urlencoded", b"\xff\xfe"),
    ],
)
def test_other_bodies_are_dropped(content_type: str | None, content: bytes) -> None:
    """A body we cannot read as JSON or a form is not kept, and that is reported."""
    assert redact_body(content, content_type) == (None, ["body:not-json"])


def test_empty_body() -> None:
    """An empty body is nothing to keep and nothing to report."""
    assert redact_body(b"", "application/json") == (None, [])


# ---------------------------------------------------------------- scrub


@pytest.mark.parametrize(
    "key",
    [
        f"sk_live_{HEX48}",
        f"sk_trade_{HEX48}",
        f"pk_live_{HEX48}",
        f"sk_domains_{HEX48}",
        "pf_live_sk_abc123",
        "sk_0123456789abcdef",  # generic prefix, 16 characters
        "pk_test_ABCDEFGHIJKLMNOP",
    ],
)
def test_scrub_key_formats(key: str) -> None:
    """Every API key format is masked inside a sentence."""
    assert scrub(f"failed with key {key}, retrying") == f"failed with key {REDACTED}, retrying"


def test_scrub_bearer_header_line() -> None:
    """A logged Authorization header line loses its credential."""
    assert CASINO_KEY not in scrub(f"Authorization: Bearer {CASINO_KEY}")
    assert scrub(f"sent bearer {CASINO_KEY} upstream") == f"sent bearer {REDACTED} upstream"


@pytest.mark.parametrize("key", ["0x" + HEX64, HEX64, HEX64.upper()])
def test_scrub_hex_private_key(key: str) -> None:
    """A 64-hex private key is masked with or without 0x."""
    assert scrub(f"signing with {key}.") == f"signing with {REDACTED}."


@pytest.mark.parametrize("words", [MNEMONIC, f"{MNEMONIC} {MNEMONIC}"])
def test_scrub_mnemonic(words: str) -> None:
    """A run of 12 or 24 lower-case words is masked as a mnemonic."""
    text = f"wallet created: {words}. Store it."
    assert scrub(text) == f"wallet created: {REDACTED}. Store it."


def test_scrub_keeps_eleven_words() -> None:
    """Eleven words are below the mnemonic threshold and are kept."""
    eleven = MNEMONIC.rsplit(" ", 1)[0]
    assert scrub(eleven) == eleven


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "GET https://x.test/?api_key=abc&amount=5",
            f"GET https://x.test/?api_key={REDACTED}&amount=5",
        ),
        ("connect https://bob:hunter2@x.test/v1", f"connect https://{REDACTED}@x.test/v1"),
        (
            '{"password": "a\\"b\\"c", "chain": "base"}',
            f'{{"password": "{REDACTED}", "chain": "base"}}',
        ),
        (
            "body {'private_key': '0xfeed', 'chain': 'base'}",
            f"body {{'private_key': '{REDACTED}', 'chain': 'base'}}",
        ),
    ],
)
def test_scrub_named_secrets_in_text(text: str, kept: str) -> None:
    """Secret-named values in query strings, URL userinfo and printed dicts are masked."""
    assert scrub(text) == kept


@pytest.mark.parametrize(
    "text",
    [
        "Missing or invalid Authorization header. Use: Bearer {api_key}",
        '{"error":"insufficient_balance","required":12.5,"agent_id":"ag_0123456789ab"}',
        "to 0x" + "ab" * 20 + " on base",  # an address is 40 hex, not 64
        "the bearer of bad news is the one who has to deal with it",
        "POST /api/v1/games/coin-flip failed after 3 attempts: ReadTimeout",
        "referral_code=ref_1a2b3c4d&position_id=pos_1&kelly=0.25",
    ],
)
def test_scrub_leaves_ordinary_text_alone(text: str) -> None:
    """Text without secrets is returned unchanged."""
    assert scrub(text) == text


# ---------------------------------------------------------------- property

CANARY = "CANARY-7Q9"  # nothing else generated can spell it: the noise alphabet is lower-case
SECRET_NAMES = ["private_key", "apiKey", "hl_signing_key", "mnemonic", "password", "X-Auth-Token"]
noise_text = st.text(alphabet="abcxyz ", max_size=6)
noise = st.recursive(
    st.none() | st.booleans() | st.integers() | noise_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(noise_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def canary_documents(draw: st.DrawFn) -> object:
    """A JSON-like document with the canary under a secret name at a random depth."""
    secret = draw(st.sampled_from([CANARY, [CANARY], {"inner": CANARY}]))
    doc: object = {
        **draw(st.dictionaries(noise_text, noise, max_size=3)),
        draw(st.sampled_from(SECRET_NAMES)): secret,
    }
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            items: list[object] = draw(st.lists(noise, max_size=3))
            items.insert(draw(st.integers(0, len(items))), doc)
            doc = items
        else:
            doc = {**draw(st.dictionaries(noise_text, noise, max_size=3)), draw(noise_text): doc}
    return doc


@given(canary_documents())
def test_canary_under_a_secret_name_never_survives(doc: object) -> None:
    """Whatever surrounds it, a value under a secret name is absent from the redacted JSON."""
    clean, redacted = redact_json(doc)
    assert CANARY not in json.dumps(clean)
    assert redacted


@given(canary_documents())
def test_canary_never_survives_a_body(doc: object) -> None:
    """The same holds for a body sent as JSON bytes."""
    kept, _ = redact_body(json.dumps(doc).encode(), "application/json")
    assert kept is not None
    assert CANARY not in kept

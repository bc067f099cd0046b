"""Redaction: what may be stored, logged or printed of a request, with every secret masked.

Two kinds of rule. By **name**: the value of a header, query parameter or JSON field whose name
looks like a secret (see :func:`is_secret_name`) is replaced, whatever it holds. By **shape**:
any text that looks like a key (see :func:`scrub`) is masked wherever it appears. Functions that
change data also return what they masked (``"query:api_key"``, ``"body.items[0].token"``) so a
stored record says what it no longer holds. Pure code: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "is_secret_name",
    "redact_body",
    "redact_headers",
    "redact_json",
    "redact_url",
    "scrub",
]

REDACTED = "[REDACTED]"

SECRET_WORDS = frozenset(
    {"key", "keys", "secret", "secrets", "token", "password", "passwd", "pwd", "passphrase"}
    | {"private", "mnemonic", "signing", "credential", "credentials", "cookie", "session"}
    | {"auth", "authorization", "bearer", "otp", "totp", "jwt"}
)
# Single-word spellings, looked for inside the name with its separators removed.
SECRET_COMPOUNDS = (
    *("apikey", "apitoken", "accesstoken", "authtoken", "privatekey", "secretkey"),
    *("signingkey", "seedphrase", "seedwords", "recoveryphrase", "sessionid"),
)
# A last word that makes the name a measure of a secret, not the secret: ``token_count``.
MEASURE_TAILS = frozenset({"count", "length", "size", "type", "limit"})
ALWAYS_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-service-key"}
)
IDEMPOTENCY_HEADER = "idempotency-key"
NOT_KEPT = "body:not-json"

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SHAPES = (  # (pattern, replacement), applied in order
    (re.compile(r"(?<![A-Za-z0-9])(?:sk_live|sk_trade|pk_live|sk_domains|pf_live)_\w+"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9])(?:sk|pk)_\w{16,}"), REDACTED),
    # A credential has a digit or a symbol: "bearer of bad news" is left alone.
    (re.compile(r"(?i)\b(bearer)\s+(?=[a-z]*[\d_.~+/=-])[\w.~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (
        re.compile(r"(?i)\b(authorization|cookie|x-api-key|x-service-key)(\s*:\s*)[^\r\n]+"),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(\w://)[^/?#\s@]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"(?<![\w-])[a-z]{3,8}(?: [a-z]{3,8}){11,}(?![\w-])"), REDACTED),
)
_HEX_KEY = re.compile(r"(?<![0-9A-Za-z])(?:0x)?[0-9a-fA-F]{64}(?![0-9A-Za-z])")
_ASSIGNED = re.compile(r"([A-Za-z][\w.-]*)=([^&\s#;,'\"]+)")  # name=value
_QUOTED = re.compile(r"""(["'])([\w.-]+)\1(\s*:\s*)(["'])(?:\\.|(?!\4).)*\4""")  # "name": "v"


def _words(name: str) -> list[str]:
    """The lower-case word parts of a name: split on non-alphanumerics and camelCase."""
    return [w.lower() for chunk in re.split(r"[^A-Za-z0-9]+", name) for w in _WORD.findall(chunk)]


def is_secret_name(name: str) -> bool:
    """Whether a header, query parameter or JSON field of this name holds a secret.

    The name is split into words on ``_ - .`` (any non-alphanumeric) and camelCase boundaries,
    then lower-cased: ``hlSigningKey`` is ``hl signing key``. It is secret when a word is in
    :data:`SECRET_WORDS` (key, secret, token, password, private, mnemonic, signing, credential,
    cookie, session, auth, bearer, otp, ...) or the words joined contain a compound of
    :data:`SECRET_COMPOUNDS` (``apikey``, ``privatekey``, ``seedphrase``, ...). Whole words only:
    ``kelly``, ``keyboard`` and ``author`` are not secret. Exceptions: an idempotency key or
    token (a request id the guard needs for replay) and a name ending in a measure word
    (``token_count``, ``key_type``). ``seed`` alone is not secret: casino ``client_seed`` is a
    public fairness input and ``server_seed`` is only ever sent after it has been revealed.
    """
    words = _words(name)
    if not words or "idempotency" in words or words[-1] in MEASURE_TAILS:
        return False
    joined = "".join(words)
    return any(w in SECRET_WORDS for w in words) or any(c in joined for c in SECRET_COMPOUNDS)


def _unassign(match: re.Match[str]) -> str:
    return f"{match[1]}={REDACTED}" if is_secret_name(match[1]) else match[0]


def _unquote(match: re.Match[str]) -> str:
    if not is_secret_name(match[2]):
        return match[0]
    return f"{match[1]}{match[2]}{match[1]}{match[3]}{match[4]}{REDACTED}{match[4]}"


def _scrub(text: str, *, hex_keys: bool = True) -> str:
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    if hex_keys:
        text = _HEX_KEY.sub(REDACTED, text)
    return _QUOTED.sub(_unquote, _ASSIGNED.sub(_unassign, text))


def scrub(text: str) -> str:
    """Mask secrets in free text (error messages, exception strings, URLs in messages).

    Masked: API keys (``sk_live_``, ``sk_trade_``, ``pk_live_``, ``sk_domains_``, ``pf_live_``,
    any ``sk_``/``pk_`` token of 16+ characters after the prefix), ``Bearer <token>``, the rest
    of an ``Authorization:``/``Cookie:``/``X-API-Key:`` line, URL userinfo, 64-hex private keys
    with or without ``0x`` (a tx hash has that shape too and is masked), the value of
    ``name=value`` and ``"name": "value"`` pairs with a secret name, and mnemonic-like runs of
    12+ lower-case words of 3-8 letters separated by single spaces.
    """
    return _scrub(text)


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers safe to keep: names lower-cased, secret values replaced, the rest scrubbed.

    The ``Idempotency-Key`` is kept verbatim: replaying the request needs it.
    """
    out: dict[str, str] = {}
    for name, value in headers:
        low = name.lower()
        if low in ALWAYS_SECRET_HEADERS or is_secret_name(low):
            out[low] = REDACTED
        else:
            out[low] = value if low == IDEMPOTENCY_HEADER else scrub(value)
    return out


def _redact_pairs(
    pairs: list[tuple[str, str]], label: str
) -> tuple[list[tuple[str, str]], list[str]]:
    out: list[tuple[str, str]] = []
    redacted: list[str] = []
    for name, value in pairs:
        clean = REDACTED if is_secret_name(name) else scrub(value)
        if clean != value:
            redacted.append(f"{label}{name}")
        out.append((name, clean))
    return out, redacted


def redact_url(url: str) -> tuple[str, list[str]]:
    """The URL without userinfo and with secret query values replaced; and what was masked."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:  # not a URL we can take apart: mask by shape only
        return scrub(url), ["url:unparsed"]
    path, fragment = scrub(parts.path), scrub(parts.fragment)
    changed = {"userinfo": host, "path": path, "fragment": fragment}
    was = {"userinfo": parts.netloc, "path": parts.path, "fragment": parts.fragment}
    redacted = [part for part in changed if changed[part] != was[part]]
    pairs, masked = _redact_pairs(parse_qsl(parts.query, keep_blank_values=True), "query:")
    # Rebuild the query only when something changed, so an untouched URL stays byte for byte.
    query = urlencode(pairs, safe="[]") if masked else parts.query
    return urlunsplit((parts.scheme, host, path, query, fragment)), redacted + masked


def _walk(value: object, path: str, redacted: list[str], hex_keys: bool = True) -> object:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            name = scrub(str(key))  # a key can itself be a secret: {"sk_live_...": 5}
            if name != str(key) or is_secret_name(name):
                out[name] = REDACTED
                redacted.append(f"{path}.{name}")
            else:
                public_hash = _words(name)[-1:] in (["hash"], ["txid"])  # tx_hash: hex, not a key
                out[name] = _walk(item, f"{path}.{name}", redacted, not public_hash)
        return out
    if isinstance(value, list):
        return [_walk(item, f"{path}[{i}]", redacted, hex_keys) for i, item in enumerate(value)]
    if isinstance(value, str) and (clean := _scrub(value, hex_keys=hex_keys)) != value:
        redacted.append(path)
        return clean
    return value


def redact_json(value: object, root: str = "body") -> tuple[object, list[str]]:
    """A copy of a JSON-like value with secrets masked, and the paths masked.

    The value of every secret-named key is replaced, whatever its type; every other string is
    :func:`scrub`-bed. A 64-hex string under a hash field (``tx_hash``, ``server_seed_hash``)
    is kept: it is a public hash, and reconciling a payment needs it.
    """
    redacted: list[str] = []
    return _walk(value, root, redacted), redacted


def redact_body(content: bytes, content_type: str | None) -> tuple[str | None, list[str]]:
    """The body as text safe to store, and what was masked; ``None`` when nothing is kept.

    JSON (declared, or bytes that parse as an object or array) comes back compact, keys in
    their order; a form comes back form-encoded. Anything else is dropped: we cannot know what
    it hides. Numbers are re-serialised from floats, so ``1.10`` is stored as ``1.1``.
    """
    if not content:
        return None, []
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            return None, [NOT_KEPT]
        pairs, masked = _redact_pairs(parse_qsl(text, keep_blank_values=True), "body.")
        return (urlencode(pairs, safe="[]") if masked else text), masked
    declared = media == "application/json" or media.endswith("+json")
    try:
        parsed: object = json.loads(content)
    except (ValueError, RecursionError):
        return None, [NOT_KEPT]
    if not declared and not isinstance(parsed, dict | list):
        return None, [NOT_KEPT]
    clean, masked = redact_json(parsed)
    return json.dumps(clean, ensure_ascii=False, separators=(",", ":")), masked

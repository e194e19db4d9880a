#!/usr/bin/env python3
"""Hostile Polymarket for snap's fuzz tests (Tests/EndToEndTests/SnapFuzzTests.swift).

Standard library only, like fake_polymarket.py, whose real-shaped payloads (Gamma events, CLOB
books) it reuses. Every answer is drawn from a generator seeded by the run id in the URL path:
snap gets base URLs `http://user:pass@host:port/c/<run id>`, so one server serves any number of
runs at once and a run id (`<seed>-<case>-<run>`) replays the same decisions. Only the clock
differs between replays (which windows are open, the books' contents).

    python3 fuzz_server.py --state-dir DIR      # prints {"http":…,"https":…,"ca_file":…,"pid":…}

Endpoints:
    /c/<run id>/events/slug/<slug>, /c/<run id>/books   Gamma and CLOB, good or hostile
    GET /_fuzz/prepare/<run id>?dir=<data dir>          plants hostile state files (backoff.json,
        discovery.json) in the data directory and answers the run's flags:
        {"args":[…],"tls":bool,"more":bool,"notes":[…]}; "more" says the case has another run
    GET /_fuzz/log/<run id>                             what was answered to that run (and forgets it)
"""
from __future__ import annotations

import argparse, gzip, json, os, random, re, sys, threading, time, zlib
from urllib.parse import parse_qs, urlsplit

import fake_polymarket as fake

DEFAULT_CAP = 16 << 20
RUN_RE = re.compile(r"/c/([A-Za-z0-9-]{1,80})(/.*)?")
# A bound on anything slow (drip, stall): each run must end well inside the test's deadline.
SLOW_MAX = 3.0


class Raw:
    """JSON text spliced into a document as is: hostile numbers, duplicate keys, broken bits."""
    def __init__(self, text):
        self.text = text if isinstance(text, str) else text.decode("utf-8", "surrogateescape")


def enc(v, ascii_only=True) -> str:
    if isinstance(v, Raw):
        return v.text
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=ascii_only) + ":" + enc(x, ascii_only) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(enc(x, ascii_only) for x in v) + "]"
    return json.dumps(v, ensure_ascii=ascii_only)


def to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8, on purpose


# --------------------------------------------------------------------------------------------
# Hostile values.

def numbers(rng) -> str:
    return rng.choice([
        "1e400", "-1e400", "1E+99999", "1e-400", "-0", "-0.0", "0e0", "0.1", "5e-324", "1.7976931348623157e308",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "10000000000000", "99999999999999", "4294967296",
        "2147483648", "-1", "-100", "1.5", "123456789012345678901234567890.123456789",
        "1" + "0" * 100, "-" + "9" * 100, "1" + "0" * rng.choice([1000, 20000]), "0." + "0" * 500 + "1",
        str(rng.randint(-10**30, 10**30))])


def texts(rng) -> str:
    return rng.choice([
        "nope\n<6>run=x outcome=complete markets=10 books=20 absent=0 failures=0",
        "nope\nrun=0000000000000000 outcome=complete markets=10 books=20",
        "a\r<3>forged line", "nul\u0000byte", "\u001b[31mred\u001b[0m", "tab\there", "del\u007f", "nel\u0085next",
        "ls\u2028ps\u2029", "rtl\u202eevil", "\ud800lone", "\udfff\ud800", "quote\"back\\slash", "%s%n%x%d",
        "${jndi:ldap://127.0.0.1/x}", "Too Many Requests", "too many requests\nrun=x", "é" * 200,
        "x" * rng.choice([300, 5000, 100_000]), "error code: 1010", "", "\U0001F600" * 50,
        "multi\nline\nerror\n" * 20, 'x" outcome=complete books=999 x="', '\\" outcome=complete \\"',
        '"\u0301 outcome=complete'])


def retry_after(rng, now) -> str:
    def date(t):
        return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))
    return rng.choice([
        "0", "1", "2", "5", "120", "900", "901", "86400", "-1", "-100", "1.5", "1e3", "  7  ", "+5", "0x10",
        "garbage", "", "9223372036854775807", "9223372036854775808", "18446744073709551615", "10000000000000",
        "99999999999999999999999", "-9223372036854775808", "1" + "0" * 50,
        date(now - 3600), date(now + 3), date(now + 600), date(now + 10 * 365 * 86400),
        "Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
        "Mon, 32 Foo 2026 25:61:61 GMT", "Wed, 21 Oct 2026 07:28:00 PST", "Wednesday, 21-Oct-26 07:28:00 GMT",
        "Wed Oct 21 07:28:00 2026", "Wed, 21 Oct 99999999999 07:28:00 GMT", "Wed, -1 Oct 2026 07:28:00 GMT",
        "Wed, 21 Oct 2026 9223372036854775807:00:00 GMT", "Wed, 21 Oct 2026 07:28:9999999999999999999 GMT",
        "Wed, 9223372036854775807 Oct 2026 07:28:00 GMT", "Wed, 21 Oct -9223372036854775808 07:28:00 GMT",
        "Wed, 21 Oct 2026 -1:-1:-1 GMT", "Wed, 00 Feb 2026 07:28:00 GMT", "Wed, 31 Feb 2026 07:28:00 GMT"])


def dates(rng, now) -> str:
    return rng.choice([
        "99999-12-31T00:00:00Z", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "-9999-01-01T00:00:00Z",
        "2026-13-45T25:61:61Z", "1e400", "", "2026-11-21T19:00:00.9999999999999999999999Z",
        "2026-11-21T19:00:00+99:99", "292277026596-12-04T15:30:07Z", "10000000000000-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z", "1900-01-01T00:00:00Z", fake.iso(now + 1e9), fake.iso(now - 1e9),
        fake.iso(now), "2026-11-21 19:00:00+00", "9999-12-31T23:59:60Z", "2026-02-30T00:00:00Z"])


def deep(rng, depth=None) -> str:
    depth = depth or rng.choice([100, 254, 255, 256, 257, 1000, 10_000, 100_000])
    style = rng.randrange(4)
    if style == 0:
        return "[" * depth + "]" * depth
    if style == 1:
        return '{"a":' * depth + "1" + "}" * depth
    if style == 2:
        return "[" * depth  # never closed
    return '[{"a":' * (depth // 2) + "null" + "}]" * (depth // 2)


def hostile_value(rng, now):
    kind = rng.randrange(9)
    if kind == 0:
        return Raw(numbers(rng))
    if kind == 1:
        return texts(rng)
    if kind == 2:
        return Raw(deep(rng, rng.choice([10, 200, 255, 300])))
    if kind == 3:
        return None
    if kind == 4:
        return dates(rng, now)
    if kind == 5:
        return [0] * rng.choice([10, 1000, 50_000])
    if kind == 6:
        return {"unknown": rng.random(), "nested": {"x": [1, {}, []]}}
    if kind == 7:
        return rng.choice([True, False, {}, [], ""])
    return Raw(numbers(rng)) if rng.random() < 0.5 else str(numbers(rng))


def mutate_tree(rng, v, now, budget):
    """Structural mutation: replace, drop or duplicate some fields of a parsed payload."""
    if budget[0] <= 0:
        return v
    if isinstance(v, dict):
        out = {}
        items = list(v.items())
        for k, x in items:
            r = rng.random()
            if r < 0.04 and budget[0] > 0:
                budget[0] -= 1
                continue  # drop the field
            if r < 0.12 and budget[0] > 0:
                budget[0] -= 1
                out[k] = hostile_value(rng, now)
            else:
                out[k] = mutate_tree(rng, x, now, budget)
        if rng.random() < 0.1 and items:  # a duplicate key, after the original
            k, _ = rng.choice(items)
            text = enc(out)
            return Raw(text[:-1] + ("," if len(out) else "") + json.dumps(k) + ":" + enc(hostile_value(rng, now)) + "}")
        if rng.random() < 0.05:
            out["unknownField" + str(rng.randrange(100))] = hostile_value(rng, now)
        return out
    if isinstance(v, list):
        return [mutate_tree(rng, x, now, budget) for x in v]
    if rng.random() < 0.05 and budget[0] > 0:
        budget[0] -= 1
        return hostile_value(rng, now)
    return v


def mutate_bytes(rng, data: bytes) -> bytes:
    """Byte-level mutation: flips, inserts, deletes, duplications, truncation."""
    b = bytearray(data or b"[]")
    specials = [b'"', b"\\", b"{", b"[", b"]", b"}", b",", b":", b"\n", b"\x00", b"\xff", b"\xc0\x80",
                b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\\u0000", b"\\ud800", b"1e400", b"-", b"\r\n", b"\x1b"]
    for _ in range(rng.choice([1, 1, 2, 3, 5, 10, 30])):
        if not b:
            b += b"["
        i = rng.randrange(len(b))
        op = rng.randrange(6)
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i:i] = rng.choice(specials)
        elif op == 2:
            del b[i:i + rng.randint(1, 64)]
        elif op == 3:
            j = rng.randrange(len(b))
            b[i:i] = b[min(i, j):max(i, j)][:4096]
        elif op == 4:
            del b[i:]
        else:
            b[i:i] = rng.randbytes(rng.randint(1, 16))
    return bytes(b)


def filler(size: int) -> bytes:
    """A valid JSON array of exactly `size` bytes (size >= 2): cheap to build at any size."""
    if size < 3:
        return b"[]"[:max(size, 0)]
    n = (size - 1) // 2
    body = b"[" + b"0," * n
    body = body[:-1] + b"]"
    return body + b" " * (size - len(body))


_bomb_lock, _bombs = threading.Lock(), {}


def gzip_bomb(decoded: int) -> bytes:
    """Valid gzip of a valid JSON array `decoded` bytes long (compresses about 1000:1)."""
    with _bomb_lock:
        if decoded not in _bombs:
            c = zlib.compressobj(9, zlib.DEFLATED, 31)
            parts, piece, left = [c.compress(b"[")], b"0," * (1 << 19), decoded - 2
            while left > 0:
                parts.append(c.compress(piece[:left]))
                left -= len(piece)
            parts.append(c.compress(b"0]") + c.flush())
            _bombs[decoded] = b"".join(parts)
        return _bombs[decoded]


# --------------------------------------------------------------------------------------------
# Good answers (fake_polymarket's), and the hostile ones built on them.

def gamma_good(slug, now):
    m = fake.market_for_slug(slug)
    if m is None or not m.gamma_exists(now):
        return 404, fake.GAMMA_404, None
    return 200, fake.compact(fake.event_json(m, now)).encode(), m


def books_good(body, now):
    try:
        items = json.loads(body)
        requested = [i["token_id"] for i in items]
    except (ValueError, TypeError, KeyError):
        return 400, b'{"error":"Invalid payload"}\n', []
    idx = fake.live_index(now)
    texts_ = [fake.book_text(idx[t], now) for t in requested if t in idx]
    return 200, ("[" + ",".join(texts_) + "]").encode(), requested


def some_book(now) -> dict:
    """A real-shaped live book, for echoing under other asset ids."""
    idx = fake.live_index(now)
    entry = next(iter(idx.values()))
    return json.loads(fake.book_text(entry, now))


def role_of(slug, now):
    m = fake.market_for_slug(slug)
    if m is None:
        return slug
    current = fake.window_floor(m.series, now)
    return f"{m.series.name}:{'previous' if m.start < current else 'current' if m.start == current else 'next'}"


def hostile_gamma_body(rng, slug, good_status, good, now, cap, notes):
    event = json.loads(good) if good_status == 200 else None
    kind = rng.choice(["tree", "tree", "tree", "tokens", "tokens", "dates", "bytes", "bytes", "error", "deep",
                       "numbers", "truncated", "near_cap", "zeros", "scalar", "html", "random", "slug", "markets"])
    notes.append(f"body={kind}")
    if event is None and kind in ("tree", "tokens", "dates", "slug", "markets", "near_cap"):
        kind = "error"
    if kind == "tree":
        return to_bytes(enc(mutate_tree(rng, event, now, [rng.randint(1, 8)]), rng.random() < 0.7))
    if kind in ("tokens", "dates", "slug", "markets"):
        market = event["markets"][0]
        if kind == "tokens":
            n = rng.choice([0, 1, 3, 501, 50_000])
            ids = [str(rng.randint(1, 10**77)) for _ in range(min(n, 2000))]
            ids = (ids * (n // max(len(ids), 1) + 1))[:n]
            value = rng.choice([
                json.dumps(ids), json.dumps(ids)[:-3], "[\"1\", ", "not json", Raw(numbers(rng)), ids,
                [int(x) for x in ids[:50]], [None, {}, [], ""], json.dumps([deep(rng, 300)]), "x" * 10_000,
                json.dumps(["9" * rng.choice([100, 10_000, 200_000])]), json.dumps(["", "", ""]),
                Raw(deep(rng))])
            market[rng.choice(["clobTokenIds", "clobTokenIds", "positionIds"])] = value
            if rng.random() < 0.3:
                market["version"] = rng.choice(["v2", "v1", None, 2, "V2"])
            if rng.random() < 0.3:
                market["outcomes"] = rng.choice(['["Up"', json.dumps(["x"] * 50_000), Raw(numbers(rng)), [1, 2], None])
        elif kind == "dates":
            for key in rng.sample(["eventStartTime", "endDate", "startDate"], rng.randint(1, 3)):
                market[key] = dates(rng, now)
            for key in rng.sample(["startTime", "endDate"], rng.randint(0, 2)):
                event[key] = dates(rng, now)
        elif kind == "slug":
            market["slug"] = rng.choice([slug + "-x", "", None, slug.upper(), Raw(numbers(rng))])
            if rng.random() < 0.5:
                event["slug"] = market["slug"]
        else:
            many = rng.choice([2, 1000, cap // len(fake.compact(market)) + 2])
            event["markets"] = rng.choice([[], {}, None, [market] * many,
                                           [{"slug": slug}], [market, dict(market, clobTokenIds=json.dumps(["1", "2"]))]])
        return to_bytes(enc(event))
    if kind == "near_cap":
        base = to_bytes(enc(event))
        size = max(len(base) + 20, cap + rng.choice([-1, 0, 1, -1000, -(cap // 2)]))
        pad = size - len(base) - len(',"padding":""')
        event["padding"] = "p" * max(pad, 0)
        return to_bytes(enc(event))
    return generic_body(rng, kind, good, cap, now)


def hostile_books_body(rng, requested, good_status, good, now, cap, notes):
    kind = rng.choice(["echo", "echo", "echo", "empty", "zeros", "zeros", "objects", "dupes", "deep", "numbers",
                       "error", "error", "bytes", "bytes", "tree", "truncated", "near_cap", "html", "random",
                       "scalar", "whitespace"])
    notes.append(f"body={kind}")
    if kind in ("echo", "dupes", "tree"):
        template = some_book(now)
        tokens = requested or [str(rng.randint(1, 10**77))]
        count = 1 if kind != "dupes" else rng.choice([2, 1000, 20_000])
        # Past the cap is past the cap: more only costs time here.
        limit = cap // len(fake.compact(template)) + 2
        out = []
        for t in tokens[:1000]:
            b = dict(template, asset_id=t)
            if kind == "tree" or rng.random() < 0.2:
                b = mutate_tree(rng, b, now, [rng.randint(1, 5)])
            out.extend([b] * min(count, limit - len(out)))
            if len(out) >= limit:
                break
        return to_bytes(enc(out, rng.random() < 0.7))
    if kind == "empty":
        return b"[]"
    if kind == "objects":
        return b"[" + b",".join([b"{}"] * rng.choice([10, 10_000, 200_000])) + b"]"
    return generic_body(rng, kind, good, cap, now)


def generic_body(rng, kind, good, cap, now) -> bytes:
    if kind == "zeros":
        size = rng.choice([100, 10_000, 300_000, 1_000_000, cap - 1, cap, cap + 1])
        return filler(max(size, 3))
    if kind == "deep":
        return deep(rng).encode()
    if kind == "numbers":
        return to_bytes("[" + ",".join(numbers(rng) for _ in range(rng.choice([1, 10, 1000]))) + "]")
    if kind == "error":
        obj = {"error": texts(rng) if rng.random() < 0.8 else hostile_value(rng, now)}
        if rng.random() < 0.5:
            obj["retry_after_seconds"] = rng.choice([Raw(numbers(rng)), numbers(rng), None, 5])
        text = enc(obj, rng.random() < 0.5)
        if rng.random() < 0.1:  # raw control characters: not JSON at all
            text = text.replace("\\n", "\n").replace("\\u0000", "\x00")
        return to_bytes(text)
    if kind == "bytes":
        return mutate_bytes(rng, good)
    if kind == "truncated":
        return good[:rng.randrange(max(len(good), 1))]
    if kind == "near_cap":
        return filler(cap + rng.choice([-1, 0, 1, -100]))
    if kind == "html":
        return rng.choice([fake.CF_1015, fake.HTML_PAGE, fake.cf_page(502), "error code: 1010"]).encode()
    if kind == "random":
        return rng.randbytes(rng.choice([1, 100, 10_000]))
    if kind == "whitespace":
        return b" " * rng.choice([1000, 1_000_000]) + b"[]" + b"\n" * rng.choice([0, 100_000])
    return rng.choice([b"null", b"{}", b"[]", b'""', b"0", b"true", b"\xef\xbb\xbf[]", b"[]garbage", b"[] []",
                       b"\x00", b"[null]", b"[[]]", b'[""]', b'{"error":null}', b'{"error":{}}'])


STATUSES = [200, 200, 201, 204, 206, 299, 301, 302, 304, 307, 400, 401, 403, 404, 418, 429, 429, 500, 502, 503,
            503, 504, 520, 522, 599, 999]
CTYPES = ["application/json", "application/json; charset=utf-8", "text/html", "text/plain", None, "",
          "application/json; charset=latin1", "TEXT/HTML; charset=utf-8", "application/octet-stream"]


def hostile(rng, kind, key, good_status, good, extra, now, cap, notes):
    """(status line, headers, body, transport) of a hostile answer."""
    status = good_status if rng.random() < 0.5 else rng.choice(STATUSES)
    headers = []
    if rng.random() < 0.4:
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            headers.append(("Retry-After", retry_after(rng, now)))
    ctype = "application/json" if rng.random() < 0.6 else rng.choice(CTYPES)
    if status == 403 and rng.random() < 0.5:
        body = b"error code: 1010"
        ctype = "text/plain"
        notes.append("body=cf1010")
    elif rng.random() < 0.1:
        body = good
        notes.append("body=good")
    elif kind == "gamma":
        body = hostile_gamma_body(rng, key, good_status, good, now, cap, notes)
    else:
        body = hostile_books_body(rng, extra, good_status, good, now, cap, notes)
    if status in (301, 302, 307):
        headers.append(("Location", rng.choice(["/c/loop/books", "http://127.0.0.1:1/", "//evil/", ""])))
    if ctype is not None:
        headers.append(("Content-Type", ctype))
    if rng.random() < 0.05:
        headers.append(("X-Fuzz", rng.choice(["a" * 50_000, "b\x01c", texts(rng).replace("\n", " ")[:1000]])))
    if rng.random() < 0.03:
        headers.extend(("X-Many", str(i)) for i in range(rng.choice([100, 5000])))
    encoding = None
    r = rng.random()
    if r < 0.03:
        encoding, body = "gzip", gzip.compress(body)
    elif r < 0.05:
        encoding, body = rng.choice(["gzip", "br", "deflate"]), rng.randbytes(rng.randint(1, 200))
    elif r < 0.06:
        encoding, body = "gzip", gzip.compress(body)[:max(1, len(body) // 3)]
    elif r < 0.07:
        encoding, body = "gzip", gzip_bomb(rng.choice([cap + 1, 4 * cap, 100 << 20]))
    elif r < 0.075:
        encoding = "gzip"  # says gzip, is not
    if encoding:
        headers.append(("Content-Encoding", encoding))
        notes.append(f"encoding={encoding}")
    r = rng.random()
    transport = ("normal" if r < 0.7 else rng.choice(
        ["chunked", "chunked", "chunked_cut", "chunked_bad", "cut", "short_length", "reset_mid", "reset_early",
         "close_early", "no_length", "interim", "interim", "http10", "bad_status", "drip", "stall"]))
    return status, headers, body, transport


# --------------------------------------------------------------------------------------------
# Run plans and hostile local state.

def run_args(run_id):
    """snap's flags for a run (half of the runs keep the default 16 MiB body cap)."""
    rng = random.Random(f"args:{run_id}")
    args = ["--timeout", rng.choice(["1", "1.5", "2"]), "--connect-timeout", "1",
            "--discovery-ttl", rng.choice(["0", "0", "60", "3600"])]
    if rng.random() < 0.5:
        args += ["--max-body-bytes", str(rng.choice([1024, 65536, 65536, 1 << 20, 1 << 20, 4 << 20]))]
    if rng.random() < 0.3:
        args += ["--series", ",".join(rng.sample(["5m", "15m", "hourly", "4h", "daily"], rng.randint(1, 5)))]
    return args


def body_cap(run_id):
    args = run_args(run_id)
    return int(args[args.index("--max-body-bytes") + 1]) if "--max-body-bytes" in args else DEFAULT_CAP


def run_plan(run_id, data_dir, now):
    rng = random.Random(f"plan:{run_id}")
    seed_case, _, index = run_id.rpartition("-")
    runs = random.Random(f"runs:{seed_case}").choice([1, 1, 1, 1, 1, 2, 2, 3])
    notes = []
    if rng.random() < 0.3:
        plant_state(rng, data_dir, now, notes)
    return {"args": run_args(run_id), "tls": rng.random() < 0.15, "more": int(index) + 1 < runs, "notes": notes}


def iso_micro(t):
    return fake.iso(t, True)


def plant_state(rng, data_dir, now, notes):
    """Writes a hostile state/backoff.json or cache/discovery.json (or a special file there)."""
    which = rng.choice(["state/backoff.json", "cache/discovery.json"])
    path = os.path.join(data_dir, which)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        else:
            os.unlink(path)
    kind = rng.choice(["fields", "fields", "fields", "bytes", "deep", "huge", "garbage", "special"])
    notes.append(f"state={which}:{kind}")
    if kind == "special":
        special = rng.choice(["dir", "empty"])
        if special == "dir":
            os.mkdir(path)
        else:
            open(path, "wb").close()
        return
    if which == "state/backoff.json":
        entry = {"api": rng.choice(["clob", "gamma", "both", 1, None]),
                 "until": rng.choice([iso_micro(now + rng.choice([-60, 2, 30, 899, 901, 1e9])), dates(rng, now)]),
                 "consecutive": Raw(rng.choice([numbers(rng), "1", "3", "62", "63", "64"])),
                 "reason": texts(rng) if rng.random() < 0.5 else "HTTP 429 Too Many Requests"}
        doc = {"schema": Raw(rng.choice(["1", "1", numbers(rng)])), "apis": [entry] * rng.choice([1, 1, 2, 1000])}
    else:
        entries = []
        for s in fake.SERIES:
            start = fake.window_floor(s, now)
            m = fake.get_market(s.name, start)
            entries.append({"slug": m.slug, "fetched_at": iso_micro(now - rng.choice([1, 30, 59])), "listed": True,
                            "series": s.name, "condition_id": m.condition_id,
                            "window_start": Raw(str(m.start)), "window_end": Raw(str(m.end)),
                            "tokens": [{"token_id": t, "outcome": o} for t, o in zip(m.tokens, ("Up", "Down"))]})
        e = rng.choice(entries)
        field = rng.choice(["window_start", "window_end", "fetched_at", "tokens", "listed", "series", "slug"])
        e[field] = rng.choice([
            Raw(numbers(rng)), dates(rng, now), hostile_value(rng, now), Raw("99999999999999"),
            Raw("-9223372036854775808"), [{"token_id": str(i)} for i in range(rng.choice([3, 50_000]))]])
        doc = {"schema": Raw(rng.choice(["1", "1", numbers(rng)])), "entries": entries}
    text = to_bytes(enc(doc))
    if kind == "bytes":
        text = mutate_bytes(rng, text)
    elif kind == "deep":
        text = deep(rng).encode()
    elif kind == "huge":
        text = filler(rng.choice([1 << 20, 8 << 20]))
    elif kind == "garbage":
        text = rng.randbytes(rng.choice([1, 1000]))
    with open(path, "wb") as f:
        f.write(text)


# --------------------------------------------------------------------------------------------
# HTTP.

class Logs:
    def __init__(self):
        self.lock, self.entries = threading.Lock(), {}

    def add(self, run_id, line):
        with self.lock:
            if len(self.entries) > 4000:  # runs whose log nobody asked for
                self.entries.pop(next(iter(self.entries)))
            self.entries.setdefault(run_id, []).append(line)

    def take(self, run_id):
        with self.lock:
            return self.entries.pop(run_id, [])


LOGS = Logs()


class Handler(fake.Handler):
    def dispatch(self, app):
        url = urlsplit(self.path)
        body = self.read_body() or b""
        now = time.time()
        if url.path.startswith("/_fuzz/prepare/"):
            run_id = url.path.rsplit("/", 1)[1]
            data_dir = parse_qs(url.query).get("dir", [""])[0]
            return self.reply(200, fake.JSON, fake.compact(run_plan(run_id, data_dir, now)).encode())
        if url.path.startswith("/_fuzz/log/"):
            return self.reply(200, fake.JSON, fake.compact(LOGS.take(url.path.rsplit("/", 1)[1])).encode())
        m = RUN_RE.fullmatch(url.path)
        if not m:
            return self.reply(404, "text/plain", b"404 page not found")
        run_id, path = m[1], m[2] or "/"
        # How hostile this run is to each API: some runs are all good, some hostile throughout.
        profile = random.Random(f"profile:{run_id}")
        hostility = {"gamma": profile.choice([0, 0, 0.1, 0.3, 1.0]), "books": profile.choice([0, 0.3, 1.0, 1.0])}
        cap = body_cap(run_id)
        if path.startswith("/events/slug/"):
            kind, key = "gamma", path[len("/events/slug/"):]
            good_status, good, _ = gamma_good(key, now)
            extra, rkey = None, role_of(key, now)
        elif path == "/books" and self.command == "POST":
            kind, key = "books", None
            good_status, good, extra = books_good(body, now)
            rkey = f"books:{len(extra)}:{books_ordinal(run_id)}"
        else:
            return self.reply(404, "text/plain", b"404 page not found")
        rng = random.Random(f"{run_id}:{rkey}")
        notes = [f"{kind} {rkey}"]
        if rng.random() >= hostility[kind]:
            notes.append(f"good {good_status}")
            LOGS.add(run_id, " ".join(notes))
            return self.reply(good_status, fake.JSON, good)
        status, headers, data, transport = hostile(rng, kind, key, good_status, good, extra, now, cap, notes)
        notes.append(f"status={status} transport={transport} bytes={len(data)} headers={[(k, v[:60]) for k, v in headers[:6]]}")
        LOGS.add(run_id, " ".join(notes))
        self.send_raw(rng, status, headers, data, transport)

    def send_raw(self, rng, status, headers, data, transport):
        """Writes the answer byte by byte as chosen, including broken framing."""
        self.close_connection = True
        w = self.wfile
        version = "HTTP/1.0" if transport == "http10" else "HTTP/1.1"
        head = f"{version} {status} Fuzz\r\n" if transport != "bad_status" else rng.choice(
            ["HTTP/1.1 abc Bad\r\n", "HTTP/1.1 2000 Big\r\n", "HTTP/9.9 200 OK\r\n", "garbage\r\n", "HTTP/1.1 -1 X\r\n"])
        lines = [f"{k}: {v}\r\n" for k, v in headers]
        if transport in ("chunked", "chunked_cut", "chunked_bad"):
            lines.append("Transfer-Encoding: chunked\r\n")
        elif transport == "short_length":
            lines.append(f"Content-Length: {max(len(data) - rng.randint(1, 100), 0)}\r\n")
        elif transport != "no_length":
            lines.append(f"Content-Length: {len(data) + (rng.randint(1, 10_000) if transport == 'cut' else 0)}\r\n")
        lines.append("Connection: close\r\n")
        header_bytes = (head + "".join(lines) + "\r\n").encode("latin-1", "replace")
        if transport == "reset_early":
            return self.rst()
        if transport == "close_early":
            return
        if transport == "interim":
            w.write(rng.choice([b"HTTP/1.1 100 Continue\r\n\r\n",
                                b"HTTP/1.1 103 Early Hints\r\nRetry-After: 9223372036854775807\r\nContent-Type: text/html\r\n\r\n",
                                b"HTTP/1.1 102 Processing\r\n\r\n"]) * rng.randint(1, 3))
        w.write(header_bytes)
        if transport in ("chunked", "chunked_cut", "chunked_bad"):
            pos, pieces = 0, []
            while pos < len(data):
                n = rng.choice([1, 7, 100, 4096, 65536, 1 << 20])
                pieces.append(data[pos:pos + n])
                pos += n
            if transport == "chunked_cut":
                pieces = pieces[:rng.randrange(len(pieces) + 1)]
            for i, p in enumerate(pieces):
                size = f"{len(p):x}" if transport != "chunked_bad" or i != len(pieces) // 2 else rng.choice(["zz", "ffffffffffffffffff", "-1"])
                w.write(size.encode() + b"\r\n" + p + b"\r\n")
            if transport != "chunked_cut":
                w.write(b"0\r\n" + (b"Retry-After: 9223372036854775807\r\n" if rng.random() < 0.3 else b"") + b"\r\n")
            return
        if transport == "reset_mid":
            w.write(data[:rng.randrange(len(data) + 1)])
            w.flush()
            return self.rst()
        if transport in ("drip", "stall"):
            deadline = time.monotonic() + rng.uniform(0.2, SLOW_MAX)
            pos = 0 if transport == "drip" else rng.randrange(len(data) + 1)
            w.write(data[:pos])
            w.flush()
            while pos < len(data) and time.monotonic() < deadline:
                time.sleep(0.05)
                if transport == "drip":
                    n = max(1, len(data) // 20)
                    w.write(data[pos:pos + n])
                    w.flush()
                    pos += n
            return
        w.write(data)


_counts_lock, _counts = threading.Lock(), {}


def books_ordinal(run_id):
    """How many /books requests this run made before: chunks are told apart by arrival order."""
    with _counts_lock:
        n = _counts.get(run_id, 0)
        _counts[run_id] = n + 1
        if len(_counts) > 4000:
            _counts.pop(next(iter(_counts)))
        return n


def main():
    ap = argparse.ArgumentParser(description="Hostile Polymarket for snap's fuzz tests")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    return fake.serve(a.state_dir, a.host, Handler)


if __name__ == "__main__":
    sys.exit(main())

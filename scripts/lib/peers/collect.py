"""One snapshot taken the way `snap` takes it (Sources/OrderbooksCore/SnapRun.swift), for the Python
peers that scripts/bench-peers measures beside it: the windows of the series are found on Gamma
(answers reused for a TTL, early refresh at half of it), all their books come in one `POST /books`
through Polymarket's official client py-clob-client-v2, and one gzip JSON Lines file
(docs/FORMAT.md rows) is written atomically.

Left out, as a benchmark peer may: snap's resolution lookups, its back-off after throttling, and its
bounds on hostile answers. Book rows are the client's parsed objects serialised again (it returns
no raw body); for the fake's books that gives the same bytes.

TLS: the client builds its one httpx.Client when it is imported, with no way to hand it a CA, and
httpx then reads SSL_CERT_FILE (else certifi's bundle). The caller sets SSL_CERT_FILE, and the
Gamma client below, made with the same defaults, trusts the same.
"""
import gzip
import json
import os
import secrets
import socket
import time
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from zoneinfo import ZoneInfo

import httpx
from py_clob_client_v2 import BookParams, ClobClient
from py_clob_client_v2.exceptions import PolyApiException

SERIES = ("5m", "15m", "hourly", "4h", "daily")
ET = ZoneInfo("America/New_York")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
CLOSING_GRACE = 120  # Series.closingGrace: a window is still captured this long after its end
CLIENT = "py-clob-client-v2 " + version("py-clob-client-v2")
# Polygon mainnet; the client wants a chain id even for public, unsigned calls.
CHAIN_ID = 137


def _fixed(series):
    return {"5m": 300, "15m": 900}.get(series)


def _start(series, t):
    """Start of the series' window containing t (as Series.window(containing:))."""
    if _fixed(series):
        return t - t % _fixed(series)
    local = datetime.fromtimestamp(t, ET)
    if series == "daily":  # noon ET the day before the title date -> noon ET on it
        day = local.date() if local.hour >= 12 else local.date() - timedelta(days=1)
        return int(datetime(day.year, day.month, day.day, 12, tzinfo=ET).timestamp())
    hours = 4 if series == "4h" else 1
    # fold=0: the repeated autumn hour belongs to the window of the first one.
    return int(local.replace(hour=local.hour - local.hour % hours, minute=0, second=0, microsecond=0, fold=0).timestamp())


def window(series, t):
    start = _start(series, t)
    if _fixed(series):
        return start, start + _fixed(series)
    end = start + 3600  # Eastern boundaries fall on whole UTC hours
    while _start(series, end) == start:
        end += 3600
    return start, end


def slug(series, start, end):
    if series in ("5m", "15m", "4h"):
        return f"btc-updown-{series}-{start}"
    if series == "hourly":  # named by the Eastern hour of its start
        a = datetime.fromtimestamp(start, ET)
        return f"bitcoin-up-or-down-{MONTHS[a.month - 1]}-{a.day}-{a.year}-{a.hour % 12 or 12}{'am' if a.hour < 12 else 'pm'}-et"
    b = datetime.fromtimestamp(end, ET)  # daily: named by the date it ends
    return f"bitcoin-up-or-down-on-{MONTHS[b.month - 1]}-{b.day}-{b.year}"


def targets(series_list, t):
    """The windows to capture at t: previous (within the closing grace), current, next."""
    out = []
    for series in series_list:
        current = window(series, t)
        previous = window(series, current[0] - 1)
        windows = ([previous] if t < previous[1] + CLOSING_GRACE else []) + [current, window(series, current[1])]
        out += [(series, s, e, slug(series, s, e)) for s, e in windows]
    return out


def phase(start, end, t):
    if t < start:
        return "upcoming"
    if t < end:
        return "open"
    return "closing" if t < end + CLOSING_GRACE else "ended"


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _time(text):
    try:
        return int(datetime.fromisoformat(text).timestamp()) if isinstance(text, str) else None
    except ValueError:
        return None


def _listed(value):
    """Gamma sends clobTokenIds and outcomes as JSON arrays encoded in strings, positionIds as arrays."""
    return json.loads(value) if isinstance(value, str) else (value or [])


def read_event(body, series, start, end, target_slug):
    """The market of a Gamma event (as GammaEvent.read): its tokens, window and row details."""
    event = json.loads(body)
    markets = event.get("markets") or []
    market = next((m for m in markets if m.get("slug") == target_slug), markets[0] if len(markets) == 1 else None)
    if market is None:
        raise ValueError(f"the event has {len(markets)} markets and none with slug {target_slug}")
    fields = ("positionIds", "clobTokenIds") if market.get("version") == "v2" else ("clobTokenIds", "positionIds")
    ids = next((ids for ids in (_listed(market.get(f)) for f in fields) if ids), [])
    if not ids:
        raise ValueError("the market lists no token ids (clobTokenIds/positionIds)")
    labels = _listed(market.get("outcomes"))
    s = _time(market.get("eventStartTime")) or _time(event.get("startTime")) or start
    e = _time(market.get("endDate")) or _time(event.get("endDate")) or end
    if s >= e:
        s, e = start, end
    found = {"series": series, "slug": target_slug, "condition_id": market.get("conditionId"), "window_start": s,
             "window_end": e, "tokens": [{"token_id": str(t), "outcome": labels[i] if i < len(labels) else None}
                                         for i, t in enumerate(ids)]}
    details = {"question": market.get("question") or event.get("title"),
               "window_start": iso(s), "window_end": iso(e), "tokens": found["tokens"], "version": market.get("version"),
               "active": market.get("active"), "closed": market.get("closed"),
               "accepting_orders": market.get("acceptingOrders"), "uma_resolution_status": market.get("umaResolutionStatus"),
               "resolution_source": market.get("resolutionSource") or event.get("resolutionSource"),
               "description": market.get("description") or event.get("description")}
    return found, details


def line(fields, raw_key=None, raw=None):
    """One JSON line; a raw server text goes in last, unparsed, as snap keeps it."""
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return (text if raw is None else text[:-1] + f',"{raw_key}":{raw}}}') + "\n"


class Snapshotter:
    """Holds the two HTTP clients; `take` makes one snapshot."""

    def __init__(self, data_dir, clob_url, gamma_url, series, ttl, collector):
        self.clob = ClobClient(clob_url, chain_id=CHAIN_ID)
        # Kept open, like the CLOB client's: the loop reuses the connection from run to run.
        self.gamma = httpx.Client(timeout=10, headers={"User-Agent": "orderbooks-peer/0.1 (" + CLIENT + ")"})
        self.clob_url, self.gamma_url = clob_url.rstrip("/"), gamma_url.rstrip("/")
        self.series, self.ttl, self.collector = series, ttl, collector
        self.spool, self.tmp = os.path.join(data_dir, "spool"), os.path.join(data_dir, "tmp")
        for d in (self.spool, self.tmp):
            os.makedirs(d, mode=0o750, exist_ok=True)

    def take(self, cache):
        """One snapshot; `cache` (slug -> {fetched_at, market}) is read and updated. Returns the
        exit status snap would give: 0 complete, 3 partial, 4 failed."""
        started, monotonic = time.time(), time.monotonic_ns()
        run_id = secrets.token_hex(8)
        lines, failures = [], []

        def head(kind, at):
            return {"kind": kind, "schema": 1, "run_id": run_id, "collector": self.collector, "received_at": iso(at)}

        def failure(stage, error, url, at, asked_at, status=None, series=None, target_slug=None, token_ids=None):
            failures.append(line({**head("failure", at), "stage": stage, "error_kind": "http" if status else "transport",
                                  "error": str(error), "http_status": status, "url": url, "request_started_at": iso(asked_at),
                                  "elapsed_ms": round((at - asked_at) * 1000, 3), "series": series, "slug": target_slug,
                                  "retry_at": None, "token_ids": token_ids, "body_excerpt": None}))

        wanted = targets(self.series, int(started))
        due, early = [], []
        for series, s, e, target_slug in wanted:
            entry = cache.get(target_slug)
            age = started - entry["fetched_at"] if entry else None
            if age is None or age >= self.ttl or age < 0:
                due.append((series, s, e, target_slug))
            elif age * 2 >= self.ttl:  # refreshed along with due ones, so Gamma is asked in batches
                early.append((series, s, e, target_slug))
        asked = due + early if due else []
        for series, s, e, target_slug in asked:
            url = f"{self.gamma_url}/events/slug/{target_slug}"
            asked_at = time.time()
            try:
                response = self.gamma.get(url)
                at = time.time()
                if response.status_code == 404:
                    cache[target_slug] = {"fetched_at": at, "market": None}
                    continue
                if response.status_code != 200:
                    raise ValueError(f"HTTP {response.status_code}")
                found, details = read_event(response.content, series, s, e, target_slug)
            except (httpx.HTTPError, ValueError, TypeError, AttributeError) as error:
                if (series, s, e, target_slug) in due:  # a failed early refresh costs nothing
                    failure("discovery", error, url, time.time(), asked_at, series=series, target_slug=target_slug)
                continue
            cache[target_slug] = {"fetched_at": at, "market": found}
            lines.append(line({**head("market", at), "series": series, "slug": target_slug, "condition_id": found["condition_id"],
                               **details, "url": url, "request_started_at": iso(asked_at),
                               "elapsed_ms": round((at - asked_at) * 1000, 3)},
                              "event", response.text))
        for stale in set(cache) - {w[3] for w in wanted}:
            del cache[stale]
        markets = [cache[w[3]]["market"] for w in wanted if cache.get(w[3]) and cache[w[3]]["market"]]

        origins = {}  # token id -> (market, outcome), the first market listing it
        for market in markets:
            for token in market["tokens"]:
                origins.setdefault(token["token_id"], (market, token["outcome"]))
        absent, captured, open_tokens = [], set(), set()
        if origins:
            asked_at = time.time()
            try:
                answer = self.clob.get_order_books([BookParams(token_id=t) for t in origins])
                at = time.time()
            except PolyApiException as error:
                at = time.time()
                failure("books", error.error_msg, self.clob_url + "/books", at, asked_at, status=error.status_code,
                        token_ids=list(origins))
                answer = None

            def labels(token_id):
                market, outcome = origins[token_id]
                return {"series": market["series"], "slug": market["slug"], "condition_id": market["condition_id"],
                        "token_id": token_id, "outcome": outcome, "window_start": iso(market["window_start"]),
                        "window_end": iso(market["window_end"]),
                        "phase": phase(market["window_start"], market["window_end"], int(asked_at))}

            timing = {"request_started_at": iso(asked_at), "elapsed_ms": round((at - asked_at) * 1000, 3)}
            for token_id, (market, _) in origins.items():
                if phase(market["window_start"], market["window_end"], int(asked_at)) == "open":
                    open_tokens.add(token_id)
            for book in answer if isinstance(answer, list) else []:
                token_id = book.get("asset_id") if isinstance(book, dict) else None
                if token_id in origins and token_id not in captured:
                    captured.add(token_id)
                    lines.append(line({**head("book", at), **labels(token_id), **timing}, "book",
                                      json.dumps(book, separators=(",", ":"), ensure_ascii=False)))
            if answer is not None:
                absent = [line({**head("absent", at), **labels(t), "expected": t in open_tokens, **timing})
                          for t in origins if t not in captured]

        if not captured and (failures or open_tokens):
            outcome, status = "failed", 4
        elif failures or not open_tokens <= captured:
            outcome, status = "partial", 3
        else:
            outcome, status = "complete", 0
        finished = time.time()
        run = {**head("run", finished), "peer": CLIENT, "started_at": iso(started), "finished_at": iso(finished),
               "elapsed_ms": round((finished - started) * 1000, 3), "outcome": outcome, "exit_code": status,
               "series": list(self.series), "markets": len(markets), "books": len(captured), "absent": len(absent),
               "absent_expected": sum(t in open_tokens for t in origins if t not in captured), "failures": len(failures),
               "resolutions": 0, "not_listed": [w[3] for w in wanted if w[3] in cache and cache[w[3]]["market"] is None],
               "gamma_requests": len(asked), "clob_requests": 1 if origins else 0, "boot_id": boot_id(),
               "monotonic_start_ns": monotonic}
        data = gzip.compress("".join(lines + absent + failures + [line(run)]).encode(), compresslevel=6)  # snap's level
        name = datetime.fromtimestamp(started, timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3] + f"Z_{self.collector}_{run_id}.jsonl.gz"
        publish(data, os.path.join(self.spool, name), self.tmp)
        return status


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


def default_collector():
    return "".join(c if c.isalnum() or c in ".-" else "-" for c in socket.gethostname())[:64] or "collector"


def parser(description):
    """The options both peers take, named as snap's."""
    import argparse
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--clob-url", default="https://clob.polymarket.com")
    p.add_argument("--gamma-url", default="https://gamma-api.polymarket.com")
    p.add_argument("--series", default=",".join(SERIES))
    p.add_argument("--discovery-ttl", type=int, default=60)
    p.add_argument("--collector-id", default=default_collector())
    return p


def _write_temporary(data, path, tmp_dir):
    temp = os.path.join(tmp_dir, f"{os.path.basename(path)}.{os.getpid()}.{secrets.randbits(32)}.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return temp


def _sync_directory(path):
    fd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(data, path, tmp_dir):
    """A new file under its final name only once complete and on disk (DurableFile.create):
    temporary file, fsync, link (never replaces a name), fsync of the directory."""
    temp = _write_temporary(data, path, tmp_dir)
    try:
        os.link(temp, path)
    finally:
        os.unlink(temp)
    _sync_directory(path)


def replace(data, path, tmp_dir):
    """Atomically replaces a state file (DurableFile.replace)."""
    os.replace(_write_temporary(data, path, tmp_dir), path)
    _sync_directory(path)

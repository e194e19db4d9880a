#!/usr/bin/env python3
"""Fake Polymarket (Gamma + CLOB + a control API) for snap's tests.

Standard library only (Python 3.11). The contract is documented in README.md next to this file;
payload shapes and quirks follow ../shared/reference/polymarket-api.md (beside the repository) (cited as "ref §x").
"""
from __future__ import annotations

import argparse, hashlib, json, math, os, random, re, signal, socket, ssl, struct, subprocess
import sys, threading, time, traceback
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

ET = ZoneInfo("America/New_York")  # all ET math goes through zoneinfo, never hand-coded DST rules
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
DAY = 86400
JSON = "application/json; charset=utf-8"
NO_BOOK = "No orderbook exists for the requested token id"
GAMMA_404 = b'{"type":"not found error","error":"record not found"}'
MAX_BODY = 16 << 20


class Cfg:
    """Command-line settings; module level so the lru_caches below can read them."""
    seed, lead, linger, period, verbose, max_levels = 1, 30.0, 90.0, 2.0, False, 40
    # Seconds added to the window Gamma reports (eventStartTime, startTime, endDate), the slug
    # unchanged: shows whether a client reads the window from Gamma or from the slug.
    window_skew = 0
    # Per-slug resolution set through /_control/resolution: slug -> (mode, seconds after the end).
    resolution = {}


# How a market resolves (README "Resolution"): mode -> range of seconds after the end.
RESOLUTION_PACE = {"normal": (45, 100), "late": (240, 600), "disputed": (300, 600)}
RESOLUTION_MODES = (*RESOLUTION_PACE, "never")


def compact(obj) -> str:
    """Go-style compact JSON (what the real CLOB sends, and what the book hash is taken over)."""
    return json.dumps(obj, separators=(",", ":"))


def iso(t: float, micros: bool = False) -> str:
    d = datetime.fromtimestamp(t, timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micros else "%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------
# Series and windows (ref §4.1). 5m/15m are UTC epoch grids; hourly/4h/daily are ET wall-clock
# grids. A window is [boundary, next boundary). On DST days the ET windows are whatever the wall
# clock says: 4h "00-04" lasts 3 h or 5 h, daily lasts 23 h or 25 h, and the hourly "1am" window
# on the fall-back day spans both 1am hours (05:00Z-07:00Z) so that every slug names ONE window.

class Series:
    def __init__(self, name, slug, sid, grid, title):
        self.name, self.slug, self.id, self.grid, self.title = name, slug, sid, grid, title


SERIES = [Series("5m", "btc-up-or-down-5m", "10684", 300, "BTC Up or Down 5m"),
          Series("15m", "btc-up-or-down-15m", "10192", 900, "BTC Up or Down 15m"),
          Series("hourly", "btc-up-or-down-hourly", "10114", "hourly", "BTC Up or Down Hourly"),
          Series("4h", "btc-up-or-down-4h", "10331", "4h", "BTC Up or Down 4h"),
          Series("daily", "btc-up-or-down-daily", "10999", "daily", "BTC Up or Down Daily")]
BY_NAME = {s.name: s for s in SERIES}


def window_floor(s: Series, t: float) -> int:
    """Start (epoch s) of the window of series s that contains instant t."""
    t = math.floor(t)
    if isinstance(s.grid, int):
        return t - t % s.grid
    lt = datetime.fromtimestamp(t, ET)
    if s.grid == "hourly":  # fold=0: the 2nd (EST) 1am hour belongs to the 1st one's window
        w = lt.replace(minute=0, second=0, microsecond=0, fold=0)
    elif s.grid == "4h":
        w = lt.replace(hour=lt.hour - lt.hour % 4, minute=0, second=0, microsecond=0, fold=0)
    else:  # daily: noon ET of the previous day -> noon ET of the title day
        d = lt.date() if lt.hour >= 12 else lt.date() - timedelta(days=1)
        w = datetime(d.year, d.month, d.day, 12, tzinfo=ET)
    return int(w.timestamp())


def window_end(s: Series, start: int) -> int:
    if isinstance(s.grid, int):
        return start + s.grid
    t = start + 3600  # ET offsets are whole hours, so every ET boundary is a whole UTC hour
    while window_floor(s, t) <= start:
        t += 3600
    return window_floor(s, t)


def ampm(d: datetime, minutes: bool, upper: bool) -> str:
    h = f"{d.hour % 12 or 12}" + (f":{d.minute:02d}" if minutes else "")
    suffix = "am" if d.hour < 12 else "pm"
    return h + (suffix.upper() if upper else suffix)


def slug_of(s: Series, start: int, end: int) -> str:
    if s.name in ("5m", "15m", "4h"):
        return f"btc-updown-{s.name}-{start}"
    if s.name == "hourly":  # label = ET hour of the window START (ref §4.1, the UTC-hour trap)
        a = datetime.fromtimestamp(start, ET)
        return f"bitcoin-up-or-down-{MONTHS[a.month - 1]}-{a.day}-{a.year}-{ampm(a, False, False)}-et"
    b = datetime.fromtimestamp(end, ET)  # daily: named after the END (title) date
    return f"bitcoin-up-or-down-on-{MONTHS[b.month - 1]}-{b.day}-{b.year}"


EPOCH_RE = re.compile(r"btc-updown-(5m|15m|4h)-(\d{1,11})")
HOURLY_RE = re.compile(r"bitcoin-up-or-down-([a-z]+)-(\d{1,2})-(\d{4})-(\d{1,2})(am|pm)-et")
DAILY_RE = re.compile(r"bitcoin-up-or-down-on-([a-z]+)-(\d{1,2})-(\d{4})")


def market_for_slug(slug: str):
    """Parse a slug to an instant, take that instant's window and accept the slug only if the
    window's canonical slug is identical (rejects unaligned epochs, '01am', spring-forward 2am)."""
    try:
        if m := EPOCH_RE.fullmatch(slug):
            s, t = BY_NAME[m[1]], int(m[2])
        elif m := HOURLY_RE.fullmatch(slug):
            hour = int(m[4]) % 12 + (12 if m[5] == "pm" else 0)
            s = BY_NAME["hourly"]
            t = datetime(int(m[3]), MONTHS.index(m[1]) + 1, int(m[2]), hour, tzinfo=ET).timestamp()
        elif m := DAILY_RE.fullmatch(slug):
            s = BY_NAME["daily"]
            t = datetime(int(m[3]), MONTHS.index(m[1]) + 1, int(m[2]), 12, tzinfo=ET).timestamp() - 1
        else:
            return None
        mk = get_market(s.name, window_floor(s, t))
    except (ValueError, OverflowError, OSError):
        return None
    return mk if mk.slug == slug else None


def btc_price(t: int) -> float:
    """Deterministic fake BTC price at a window boundary: priceToBeat of a window is the
    finalPrice of the previous one (ref §4.3), and it decides the winner."""
    r = random.Random(f"btc:{Cfg.seed}:{t}").random()
    return round(96000 + 4000 * math.sin(t / 277000) + 800 * math.sin(t / 5400) + (r - 0.5) * 400, 2)


# --------------------------------------------------------------------------------------------
# Markets: ids, lifecycle and per-slug quirks, all deterministic.

class Market:
    def __init__(self, s: Series, start: int):
        self.series, self.start = s, start
        self.end = window_end(s, start)
        self.slug = slug_of(s, start, self.end)
        h = lambda tag: hashlib.sha256(f"{tag}:{self.slug}".encode()).digest()
        self.condition_id = "0x" + h("condition").hex()
        # 77-digit decimal ERC-1155 ids (keep them strings: they overflow every int type)
        self.tokens = [str(10**76 + int.from_bytes(h(f"token:{o}"), "big") % (9 * 10**76))
                       for o in ("Up", "Down")]
        self.version = "v2" if s.name == "daily" else "v1"
        self.twap = s.name in ("5m", "15m", "4h")  # Chainlink TWAP rule; hourly/daily use Binance
        self.event_id = str(100000 + int.from_bytes(h("event")[:6], "big") % 900000)
        self.market_id = str(1000000 + int.from_bytes(h("market")[:6], "big") % 9000000)
        self.question_id = "0x" + h("question").hex()
        self.price_to_beat, self.final_price = btc_price(start), btc_price(self.end)
        self.up_wins = self.final_price >= self.price_to_beat  # ties resolve Up (ref §4.3)
        q = random.Random(f"quirks:{Cfg.seed}:{self.slug}")
        r = q.random()  # 10% omit both start fields, 15% only the market's, 15% only the event's
        self.omit_market_est = r < 0.25
        self.omit_event_st = r < 0.10 or 0.25 <= r < 0.40
        self.omit_desc = q.random() < 0.15
        self.null_source = q.random() < 0.15
        self.ints = q.random() < 0.5      # 5 vs 5.0, bestAsk 1 vs 0.999, ...
        self.int_volume = q.random() < 0.5
        self.ltp3 = q.random() < 0.5      # last_trade_price "0.280" style
        self.open_mils = 500 + q.randint(-40, 40)
        self.listed = start - DAY + q.uniform(-900, 300)  # startDate/creationDate trap
        self.volume = q.uniform(2000, 90000)
        self.liquidity = q.uniform(5000, 40000)
        # A generator of its own, so the quirks above stay what they were.
        r = random.Random(f"resolution:{Cfg.seed}:{self.slug}")
        u = r.random()
        self.resolution_mode = "late" if u < 0.1 else "disputed" if u < 0.2 else "normal"
        self.resolution_after = r.uniform(*RESOLUTION_PACE[self.resolution_mode])

    # lifecycle (README "Lifecycle"); `now` is always time.time() except in /_control/markets
    def gamma_exists(self, now):
        return self.start <= now + DAY and self.end >= now - 7 * DAY

    def book_live(self, now):
        return self.start - Cfg.lead <= now < self.end + Cfg.linger

    def accepting(self, now):
        return self.start - Cfg.lead <= now < self.end + 90

    def resolution(self):
        """(mode, seconds after the end it resolves; inf for never), a control override first."""
        mode, after = Cfg.resolution.get(self.slug, (self.resolution_mode, self.resolution_after))
        return mode, math.inf if mode == "never" else after

    def closed(self, now):
        return now >= self.end + min(75, self.resolution()[1])

    def closed_time(self):
        return self.end + min(75, self.resolution()[1])

    def uma(self, now):
        mode, after = self.resolution()
        if now >= self.end + after:
            return "resolved"
        if mode == "disputed" and now >= self.end + 90:
            return "disputed"
        return "proposed" if now >= self.end + min(60, after - 5) else None


get_market = lru_cache(maxsize=16384)(lambda name, start: Market(BY_NAME[name], start))


def up_mid_mils(m: Market, t: float, rng: random.Random) -> int:
    """Up mid price in thousandths: noisy around the open, converging on the winner at the end."""
    f = min(max((t - m.start) / (m.end - m.start), 0.0), 1.0)
    target = 995 if m.up_wins else 5
    p = m.open_mils + (target - m.open_mils) * f ** 3 + rng.uniform(-1, 1) * 90 * (1 - f)
    return int(min(max(round(p), 5), 995))


def live_index(now: float) -> dict:
    """token id -> (market, outcome index) for every market whose book is live at `now`."""
    idx = {}
    for s in SERIES:
        start = window_floor(s, now - Cfg.linger)
        while start <= now + Cfg.lead:
            m = get_market(s.name, start)
            if m.book_live(now):
                for i, tok in enumerate(m.tokens):
                    idx[tok] = (m, i)
            start = m.end
    return idx


# --------------------------------------------------------------------------------------------
# CLOB books (ref §2). Books change once per --book-period bucket at a per-market offset inside
# the bucket; `timestamp` is that change time (so it stays equal between polls, ref §2.3).

def fmt_mils(v: int) -> str:
    return f"0.{v:03d}".rstrip("0")  # 240 -> "0.24", 995 -> "0.995", 100 -> "0.1"


def fmt_size(rng: random.Random, big: bool) -> str:
    cents = rng.randint(100000, 2000000) if big else rng.randint(500, 60000)
    style = rng.random()
    cents -= cents % 100 if style < 0.4 else cents % 10 if style < 0.6 else 0
    return f"{cents // 100}.{cents % 100:02d}".rstrip("0").rstrip(".")  # "20", "229.9", "14468.29"


def book_hash(obj: dict) -> str:
    """Server hash (ref §2.4): SHA-1 of compact JSON in struct order with "hash" set to ""."""
    return hashlib.sha1(compact({**obj, "hash": ""}).encode()).hexdigest()


def change_time(m: Market, k: int) -> float:
    return (k + random.Random(f"ts:{Cfg.seed}:{m.slug}:{k}").random()) * Cfg.period


def current_bucket(m: Market, now: float) -> int:
    k = math.floor(now / Cfg.period)
    return k if now >= change_time(m, k) else k - 1


def pick_levels(rng, lo, hi, tick, best, n, extreme):
    """n distinct price levels (thousandths) in [lo, hi], always incl. best. With tick 0.001 only
    the levels near the best use the fine grid; deeper resting orders stay on whole cents."""
    cands = [p for p in range(lo, hi + 1, tick)
             if p not in (best, extreme) and (p % 10 == 0 or abs(p - best) <= 30)]
    chosen = {best} | ({extreme} if rng.random() < 0.7 else set())
    chosen |= set(rng.sample(cands, max(0, min(n - len(chosen), len(cands)))))
    return chosen


@lru_cache(maxsize=4096)
def books_for(name: str, start: int, k: int) -> tuple:
    """Compact JSON texts of the (Up, Down) books of one market in change-bucket k."""
    m = get_market(name, start)
    rng = random.Random(f"book:{Cfg.seed}:{m.slug}:{k}")
    t = change_time(m, k)
    mid = up_mid_mils(m, t, rng)
    tick = 1 if mid < 40 or mid > 960 else 10  # tick 0.001 near the extremes (ref §2.1)
    pre = t < m.start  # thin, wide pre-window book (ref §4.4)
    spread = rng.choice([1, 1, 1, 2, 3]) * tick * (4 if pre else 1)
    bb = max(tick, (mid - spread // 2) // tick * tick)
    ba = min(bb + spread, 1000 - tick)
    bb = min(bb, ba - tick)
    nmax = 8 if pre else Cfg.max_levels
    up_bids = sorted(pick_levels(rng, tick, bb, tick, bb, rng.randint(1, nmax), tick))
    up_asks = sorted(pick_levels(rng, ba, 1000 - tick, tick, ba, rng.randint(1, nmax), 1000 - tick),
                     reverse=True)
    size = {p: fmt_size(rng, p in (tick, 1000 - tick)) for p in up_bids + up_asks}
    r = rng.random()
    if r < 0.05:
        up_bids = []
    elif r < 0.10:
        up_asks = []
    if t >= m.end - min(0.1 * (m.end - m.start), 40):
        # last seconds: the loser's bids vanish (ref §2.1); in the mirror that is one Up side
        if m.up_wins:
            up_asks = []
        else:
            up_bids = []
    # last_trade_price is market level and in outcomes[0] (Up) terms on BOTH books (ref §2.1)
    ltp = rng.choice([bb, ba])
    ltp_s = f"0.{ltp:03d}" if m.ltp3 and tick == 10 else fmt_mils(ltp)
    r2 = rng.random()  # rare "nullish" fields (ref §2.1, TS SDK)
    ts = None if r2 < 0.01 else str(int(round(t * 1000)))
    lv = lambda ps, flip: [{"price": fmt_mils(1000 - p if flip else p), "size": size[p]} for p in ps]
    # Down book = mirror of the Up book: an Up ask at x is a Down bid at 1-x and vice versa.
    # Mirroring keeps bids ascending and asks descending (best = last element, ref §2.2).
    sides = [(lv(up_bids, False), lv(up_asks, False)), (lv(up_asks, True), lv(up_bids, True))]
    out = []
    for tok, (bids, asks) in zip(m.tokens, sides):
        o = {"market": m.condition_id, "asset_id": tok, "timestamp": ts, "hash": "",
             "bids": bids, "asks": asks, "min_order_size": "5",
             "tick_size": "0.001" if tick == 1 else "0.01", "neg_risk": False}
        if r2 >= 0.03:
            o["last_trade_price"] = ltp_s
        o["hash"] = book_hash(o)
        out.append(compact(o))
    return tuple(out)


def book_text(entry, now) -> str:
    m, i = entry
    return books_for(m.series.name, m.start, current_bucket(m, now))[i]


# --------------------------------------------------------------------------------------------
# Gamma objects (ref §3.3, §3.4): JSON-in-string fields, int/float drift, omitted fields.

TWAP_SRC = "https://data.chain.link/streams/btc-usd-twap-60s-streams"
BINANCE_SRC = "https://www.binance.com/en/trade/BTC_USDT"
DESC_TWAP = ('This market will resolve to "Up" if the time-weighted average price (TWAP) of Bitcoin, '
             'generated by Chainlink, of the time range specified in the title is greater than or equal '
             'to the price at the beginning of that range. Otherwise, it will resolve to "Down".\n\n'
             'The resolution source for this market is the Chainlink BTC/USD 60-second TWAP data stream '
             f'available at {TWAP_SRC}.\n\nPlease note that this market is about the TWAP according to '
             'Chainlink data streams, not according to other sources or spot markets.')
DESC_HOURLY = ('This market will resolve to "Up" if the close price is greater than or equal to the open '
               'price for the BTC/USDT 1 hour candle that begins on the time and date specified in the '
               'title. Otherwise, this market will resolve to "Down".\n\nThe resolution source for this '
               f'market is information from Binance, specifically the BTC/USDT pair ({BINANCE_SRC}).')
DESC_DAILY = ('This market will resolve to "Up" if the close price of the Binance 1 minute candle for '
              'BTC/USDT 12:00 in the ET timezone (noon) on the date specified in the title is higher than '
              'or equal to the close price of the Binance 1 minute candle for BTC/USDT 12:00 in the ET '
              'timezone (noon) one day before. Otherwise, this market will resolve to "Down".\n\nThe '
              f'resolution source for this market is Binance, specifically the BTC/USDT pair ({BINANCE_SRC}).')


def title_of(m: Market) -> str:
    a, b = datetime.fromtimestamp(m.start, ET), datetime.fromtimestamp(m.end, ET)
    md = f"{MONTHS[a.month - 1].capitalize()} {a.day}"
    name = m.series.name
    if name in ("5m", "15m"):
        return f"Bitcoin Up or Down - {md}, {ampm(a, True, True)}-{ampm(b, True, True)} ET"
    if name == "hourly":
        return f"Bitcoin Up or Down - {md}, {ampm(a, False, True)} ET"
    if name == "4h":
        return f"Bitcoin Up or Down - {md}, {ampm(a, False, True)}-{ampm(b, False, True)} ET"
    return f"Bitcoin Up or Down on {MONTHS[b.month - 1].capitalize()} {b.day}?"


def series_json(s: Series) -> dict:
    return {"id": s.id, "ticker": s.slug, "slug": s.slug, "title": s.title, "seriesType": "single",
            "recurrence": s.name, "active": True, "closed": False, "archived": False,
            "volume24hr": 1234567.89, "createdAt": "2025-09-01T00:00:00.000000Z"}


def description(m: Market):
    """None when this slug's quirk omits the description."""
    return None if m.omit_desc else DESC_TWAP if m.twap else DESC_HOURLY if m.series.name == "hourly" \
        else DESC_DAILY


def source(m: Market):
    return None if m.null_source else TWAP_SRC if m.twap else BINANCE_SRC


def num(m: Market, x: float):
    return int(x) if m.int_volume else round(x, 4)


def market_json(m: Market, now: float, with_events: bool) -> dict:
    uma, ended = m.uma(now), now >= m.end
    mid = up_mid_mils(m, now, random.Random(f"gamma:{Cfg.seed}:{m.slug}:{int(now // 300)}"))
    if uma == "resolved":
        prices = json.dumps(["1", "0"] if m.up_wins else ["0", "1"])
    elif uma == "disputed" or uma == "proposed" and m.resolution()[0] == "disputed":
        # The proposal that gets disputed names the loser, in final-looking prices: only the
        # status tells a reader it is not the outcome.
        prices = json.dumps(["0", "1"] if m.up_wins else ["1", "0"])
    elif uma == "proposed":
        prices = json.dumps(["0.9995", "0.0005"] if m.up_wins else ["0.0005", "0.9995"])
    else:
        prices = json.dumps([fmt_mils(mid), fmt_mils(1000 - mid)])
    if ended and m.up_wins:
        best_bid, best_ask = 0.99, (1 if m.ints else 0.999)
    elif ended:
        best_bid, best_ask = (0 if m.ints else 0.001), 0.01
    else:
        best_bid = max(mid // 10, 1) / 100  # tick-aligned like the real (stale, cached) Gamma values
        best_ask = round(best_bid + 0.01, 2)
    o = {"id": m.market_id, "question": title_of(m), "conditionId": m.condition_id, "slug": m.slug,
         "resolutionSource": source(m),
         "endDate": iso(m.end + Cfg.window_skew), "startDate": iso(m.listed + 3.7, True),
         "image": "https://polymarket-upload.s3.us-east-2.amazonaws.com/BTC+fullsize.png",
         "description": description(m),
         "outcomes": json.dumps(["Up", "Down"]), "outcomePrices": prices,
         "volume": f"{m.volume:.6f}", "liquidity": f"{m.liquidity:.4f}",
         "active": True, "closed": m.closed(now), "archived": False, "restricted": True,
         "questionID": m.question_id, "enableOrderBook": now >= m.start - Cfg.lead,
         "orderPriceMinTickSize": 0.01, "orderMinSize": 5 if m.ints else 5.0,
         "volumeNum": num(m, m.volume), "liquidityNum": num(m, m.liquidity),
         "endDateIso": iso(m.end)[:10], "startDateIso": iso(m.listed)[:10],
         "clobTokenIds": None if m.version == "v2" else json.dumps(m.tokens),
         "acceptingOrders": m.accepting(now), "negRisk": False,
         "acceptingOrdersTimestamp": iso(m.start - Cfg.lead), "eventStartTime": iso(m.start + Cfg.window_skew),
         "bestBid": best_bid, "bestAsk": best_ask, "spread": 0.01, "lastTradePrice": mid / 1000,
         "feesEnabled": True, "feeType": "crypto_fees_v2",
         "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": True, "rebateRate": 0.2},
         "version": m.version, "umaBond": "500", "umaReward": "5", "rfqEnabled": False,
         "clobRewards": [{"id": "0", "conditionId": m.condition_id, "rewardsAmount": 0,
                          "rewardsDailyRate": 0, "startDate": iso(m.listed)[:10], "endDate": "2500-12-31"}],
         "fakeUnknownNested": {"note": "tolerate me", "deep": {"list": [1, 2.5, None, "x", {"y": True}]}}}
    if m.version == "v2":
        o["positionIds"] = list(m.tokens)  # a real array (ref §1, Protocol V2)
    if m.twap:  # TWAP-era config only exists for the Chainlink-resolved series (ref §3.4b)
        cid = f"btc-{m.series.name}-twap-60"
        o["cryptoMarketConfigId"] = cid
        o["cryptoMarketConfig"] = {"id": cid, "asset": "btc", "duration": m.series.name,
                                   "twapEnabled": True, "twapLookbackSeconds": 60}
    if uma:
        o["umaResolutionStatus"] = uma
    if m.closed(now):
        o["closedTime"] = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(m.closed_time()))
    if m.omit_market_est:
        del o["eventStartTime"]
    if m.omit_desc:
        del o["description"]  # omitted, not null (ref §3.3)
    if with_events:
        o["events"] = [event_json(m, now, nested=True)]
    return o


def event_json(m: Market, now: float, nested: bool = False) -> dict:
    e = {"id": m.event_id, "ticker": m.slug, "slug": m.slug, "title": title_of(m),
         "description": description(m), "resolutionSource": source(m),
         "startDate": iso(m.listed, True), "creationDate": iso(m.listed, True), "endDate": iso(m.end + Cfg.window_skew), "active": True,
         "closed": m.closed(now), "archived": False, "restricted": True,
         "liquidity": num(m, m.liquidity), "volume": num(m, m.volume), "openInterest": 0,
         "enableOrderBook": True, "negRisk": False, "commentCount": 0,
         "startTime": iso(m.start + Cfg.window_skew), "seriesSlug": m.series.slug, "series": [series_json(m.series)],
         "tags": [{"id": "21", "label": "Crypto", "slug": "crypto"},
                  {"id": "235", "label": "Bitcoin", "slug": "bitcoin"}]}
    if m.omit_desc:
        del e["description"]
    if now >= m.start:
        e["eventMetadata"] = {"priceToBeat": m.price_to_beat}
        if m.uma(now) == "resolved":
            e["eventMetadata"]["finalPrice"] = m.final_price
    if m.omit_event_st:
        del e["startTime"]
    if not nested:
        e["markets"] = [market_json(m, now, False)]
    return e


# --------------------------------------------------------------------------------------------
# Faults and logs.

MODES = {"none", "delay", "hang", "reset", "status", "throttle", "waf", "error200", "truncate", "cut",
         "html", "empty", "huge", "pretty", "body"}
BODY_PARTS = ("prefix", "unit", "middle", "close", "suffix")
CF_1015 = ("<!DOCTYPE html>\n<html lang=\"en-US\"><head><title>Access denied | clob.polymarket.com used "
           "Cloudflare to restrict access</title></head><body><div id=\"cf-wrapper\"><h1><span "
           "class=\"cf-error-type\">Error</span> <span class=\"cf-error-code\">1015</span></h1>"
           "<h2 class=\"cf-subheadline\">You are being rate limited</h2><p>The owner of this website "
           "(clob.polymarket.com) has banned you temporarily from accessing this website.</p>"
           "<p>Cloudflare Ray ID: 8f0e6c1d2b3a4c5d</p></div></body></html>\n")
HTML_PAGE = ("<!DOCTYPE html><html><head><title>Polymarket</title></head><body><div id=\"__next\">"
             "<h1>Just a moment...</h1><p>Enable JavaScript and cookies to continue</p></div></body></html>\n")


def cf_page(status: int) -> str:
    phrase = BaseHTTPRequestHandler.responses.get(status, ("Error",))[0]
    return (f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>{status} "
            f"{phrase}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")


def classify(path: str) -> str:
    if path.startswith(("/events", "/markets", "/series")):
        return "gamma"
    return "clob" if path in ("/", "/book", "/books") else "other"


class App:
    """Shared mutable state. Every access goes through self.lock (handlers run in threads)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.faults: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.served: list[dict] = []
        self.rng = random.Random()  # /books shuffle: deliberately not deterministic

    def set_fault(self, spec):
        if not isinstance(spec, dict) or spec.get("target") not in ("gamma", "clob", "any"):
            raise ValueError("target must be gamma, clob or any")
        if spec.get("mode") not in MODES:
            raise ValueError(f"mode must be one of {sorted(MODES)}")
        count = spec.get("count")
        if count is not None and (type(count) is not int or count < 1):
            raise ValueError("count must be a positive integer")
        for key in ("ms", "retry_after", "bytes"):  # checked here so a typo fails loudly, now
            if key in spec and (type(spec[key]) not in (int, float) or spec[key] < 0):
                raise ValueError(f"{key} must be a non-negative number")
        if type(spec.get("status", 503)) is not int or not 100 <= spec.get("status", 503) <= 999:
            raise ValueError("status must be an integer 100..999")
        if not isinstance(spec.get("body", ""), str) or not isinstance(spec.get("content_type", ""), str):
            raise ValueError("body and content_type must be strings")
        if not isinstance(spec.get("headers", {}), dict) or not isinstance(spec.get("message", ""), str):
            raise ValueError("headers must be an object, message a string")
        if not all(isinstance(spec.get(k, ""), str) for k in BODY_PARTS) or spec.get("fill", "repeat") not in ("repeat", "random"):
            raise ValueError("prefix, unit, middle, close and suffix must be strings, fill repeat or random")
        if not isinstance(spec.get("length", True), bool):
            raise ValueError("length must be true or false")
        with self.lock:
            if spec["mode"] == "none":
                self.faults.pop(spec["target"], None)
            else:
                self.faults[spec["target"]] = dict(spec)

    def take_fault(self, kind):
        """The fault for this request (specific target wins over "any"); counts down `count`."""
        with self.lock:
            for target in ((kind, "any") if kind in ("gamma", "clob") else ("any",)):
                f = self.faults.get(target)
                if f is None:
                    continue
                if f.get("count") is not None:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        del self.faults[target]
                return dict(f)
        return None

    def log_request(self, entry):
        with self.lock:
            self.requests.append(entry)

    def set_status(self, entry, status):
        with self.lock:
            entry["status"] = status

    def record_served(self, requested, texts):
        with self.lock:
            self.served.append({"t": time.time(), "requested": requested, "books": texts})

    def snapshot(self, what):
        with self.lock:
            return json.loads(json.dumps(getattr(self, what)))

    def reset(self):
        with self.lock:
            self.requests.clear()
            self.served.clear()


def resolution_of(m: Market) -> dict:
    mode, after = m.resolution()
    return {"resolution_mode": mode, "resolves_at": None if mode == "never" else m.end + after,
            "winner": "Up" if m.up_wins else "Down"}


def control_markets(at: float) -> list:
    out = []
    for s in SERIES:
        cur = get_market(s.name, window_floor(s, at))
        prev = get_market(s.name, window_floor(s, cur.start - 1))
        for role, m in (("previous", prev), ("current", cur), ("next", get_market(s.name, cur.end))):
            out.append({"series": s.name, "slug": m.slug, "window_start": m.start, "window_end": m.end,
                        "condition_id": m.condition_id, "version": m.version,
                        "tokens": [{"token_id": m.tokens[0], "outcome": "Up"},
                                   {"token_id": m.tokens[1], "outcome": "Down"}],
                        "book_live": m.book_live(at), "role": role, **resolution_of(m)})
    return out


# --------------------------------------------------------------------------------------------
# HTTP.

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; the stdlib also answers Expect: 100-continue
    timeout = 60  # idle keep-alive sockets are dropped, so threads cannot pile up

    def version_string(self):
        return "cloudflare"

    def log_message(self, fmt, *args):
        if Cfg.verbose:
            sys.stderr.write(f"fake_polymarket: {self.address_string()} {fmt % args}\n")

    def do_GET(self):
        try:
            self.dispatch(self.server.app)
        except OSError:  # client went away (BrokenPipe, reset, TLS EOF...): never a traceback
            self.close_connection = True
        except Exception:  # a bug in this fixture: say so loudly, answer 500
            traceback.print_exc()
            self.close_connection = True
            try:
                self.reply(500, JSON, b'{"error":"fake server bug"}')
            except OSError:
                pass

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def read_body(self):
        """Request body (Content-Length or chunked); None if malformed or too big."""
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out = bytearray()
                while len(out) <= MAX_BODY:
                    size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                            pass
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline(1024)
                return None
            n = int(self.headers.get("Content-Length") or 0)
            return None if n < 0 or n > MAX_BODY else (self.rfile.read(n) if n else b"")
        except ValueError:
            return None

    def send_response(self, code, message=None):
        self.sent_status = code  # what the request log reports, even if the body write fails
        super().send_response(code, message)

    def reply(self, status, ctype, data, headers=(), cut=False):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[: len(data) // 2] if cut else data)
        if cut:  # full Content-Length announced, half sent, then FIN
            self.close_connection = True

    def dispatch(self, app: App):
        url = urlsplit(self.path)
        body = self.read_body()
        if body is None:
            self.close_connection = True
            return self.reply(400, JSON, b'{"error":"bad request body"}', [("Connection", "close")])
        if url.path.startswith("/_control"):  # never faulted, never logged
            return self.reply(*self.control(app, url.path, url.query, body))
        fault = app.take_fault(classify(url.path))
        mode = fault["mode"] if fault else None
        entry = {"t": time.time(), "method": self.command, "path": url.path, "query": url.query,
                 "user_agent": self.headers.get("User-Agent"), "authorization": self.headers.get("Authorization"),
                 "status": None, "fault": mode}
        app.log_request(entry)  # logged before answering, so a hanging request is visible
        self.sent_status = None
        try:
            self.serve(app, url.path, url.query, body, fault or {}, mode)
        finally:
            app.set_status(entry, self.sent_status)

    def serve(self, app, path, query, body, fault, mode):
        """Answer one faultable request (or deliberately not)."""
        if mode == "delay":
            time.sleep(max(0.0, float(fault.get("ms", 1000))) / 1000)
        elif mode == "hang":
            return self.hang()
        elif mode == "reset":
            return self.rst()
        elif mode == "huge":
            return self.huge(int(fault.get("bytes", 1 << 30)))
        elif mode == "body":
            return self.hostile(fault, path, body)
        elif mode in ("status", "throttle", "waf", "error200", "html", "empty"):
            if mode == "status":
                status = int(fault.get("status", 503))
                data = fault.get("body", cf_page(status))
                ctype, headers = fault.get("content_type", "text/html"), list(fault.get("headers", {}).items())
            elif mode == "throttle":
                status, data, ctype = 429, CF_1015, "text/html"
                headers = [("Retry-After", fault.get("retry_after", 5))]
            elif mode == "waf":
                status, data, ctype, headers = 403, "error code: 1010", "text/plain", []
            elif mode == "error200":
                status, ctype, headers = 200, "application/json", []
                data = compact({"error": fault.get("message", "Too Many Requests")})
            elif mode == "html":
                status, data, ctype, headers = 200, HTML_PAGE, "text/html", []
            else:
                status, data, ctype, headers = 200, "", "application/json", []
            return self.reply(status, ctype, data.encode() if isinstance(data, str) else data, headers)
        status, ctype, data, served = self.route(path, query, body)
        if served is not None and status == 200 and mode in (None, "delay", "pretty"):
            app.record_served(*served)  # before sending: tests may read it right after the reply
        if mode == "pretty" and ctype.startswith("application/json") and data:
            data = json.dumps(json.loads(data), indent=2).encode()
        elif mode == "truncate":
            data = data[: len(data) // 2]
        self.reply(status, ctype, data, cut=(mode == "cut"))

    def hang(self):
        """Never answer; hold the socket until the client closes it (or 300 s / shutdown)."""
        self.close_connection = True
        sock, deadline = self.connection, time.monotonic() + 300
        sock.settimeout(1.0)
        while time.monotonic() < deadline and not self.server.stopping.is_set():
            try:
                if not sock.recv(65536):
                    break
            except TimeoutError:
                continue
            except (OSError, ValueError):
                break

    def rst(self):
        """Close with SO_LINGER=0 so the kernel sends a TCP RST instead of a FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The fd is really closed (-> RST) when finish() drops rfile's reference, right after this.
        self.connection.close()

    def huge(self, nbytes):
        """Close-delimited endless-looking JSON array, streamed (never held in memory)."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        unit = (compact({"market": "0x" + "ab" * 32, "asset_id": "1" * 77, "timestamp": "1778584369464",
                         "hash": "0" * 40, "bids": [{"price": "0.01", "size": "100"}],
                         "asks": [{"price": "0.99", "size": "100"}], "min_order_size": "5",
                         "tick_size": "0.01", "neg_risk": False, "last_trade_price": "0.5"}) + ",").encode()
        chunk = unit * (65536 // len(unit))
        self.wfile.write(b"[")
        sent = 1
        while sent < nbytes and not self.server.stopping.is_set():
            piece = chunk[: nbytes - sent]
            self.wfile.write(piece)
            sent += len(piece)

    def hostile(self, fault, path, body):
        """A generated body of about `bytes` bytes: prefix, unit × k, middle, close × k, suffix.
        `{slug}` in prefix/middle/suffix is the slug asked for; `{token}` in unit cycles through
        the token ids of a POST /books, `{n}` counts the units. With fill "random" the k units are random letters."""
        p = {k: fault.get(k, "") for k in BODY_PARTS}
        slug = path.rsplit("/", 1)[-1]
        for k in ("prefix", "middle", "suffix"):
            p[k] = p[k].replace("{slug}", slug)
        try:
            tokens = [i["token_id"] for i in json.loads(body)] if body else []
        except (ValueError, TypeError, KeyError):
            tokens = []
        budget = int(fault.get("bytes", 1 << 20)) - len(p["prefix"]) - len(p["middle"]) - len(p["suffix"])
        if fault.get("fill") == "random":
            import base64
            units = base64.b64encode(os.urandom(max(budget, 0) * 3 // 4 + 3))[:max(budget, 0)].replace(b"/", b"_")
            closes = b""
        elif "{token}" in p["unit"] or "{n}" in p["unit"]:
            parts, size, i = [], 0, 0
            while True:
                u = p["unit"].replace("{token}", tokens[i % len(tokens)] if tokens else "0").replace("{n}", str(i))
                if size + len(u) + len(p["close"]) > budget:
                    break
                parts.append(u)
                size += len(u) + len(p["close"])
                i += 1
            units, closes = "".join(parts).encode(), (p["close"] * len(parts)).encode()
        else:
            k = max(budget, 0) // max(len(p["unit"]) + len(p["close"]), 1) if p["unit"] or p["close"] else 0
            units, closes = (p["unit"] * k).encode(), (p["close"] * k).encode()
        data = p["prefix"].encode() + units + p["middle"].encode() + closes + p["suffix"].encode()
        ctype = fault.get("content_type", "application/json")
        status = int(fault.get("status", 200))
        if fault.get("length", True):
            return self.reply(status, ctype, data)
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def route(self, path, query, body):
        """Normal (unfaulted) Gamma/CLOB answer: (status, content type, bytes, served-or-None)."""
        now = time.time()
        qs = parse_qs(query, keep_blank_values=True)
        # CLOB error bodies end in "\n": the live 404 is 59 bytes (ref §2.7c), the JSON is 58
        err = lambda status, msg: (status, JSON, (compact({"error": msg}) + "\n").encode(), None)
        if path == "/":
            return 200, "text/plain; charset=utf-8", b"OK", None
        if path == "/book":
            token = (qs.get("token_id") or [""])[0]
            if not token:
                return err(400, "Invalid token id")
            entry = live_index(now).get(token)
            return (200, JSON, book_text(entry, now).encode(), None) if entry else err(404, NO_BOOK)
        if path == "/books":
            try:
                items = json.loads(body) if self.command == "POST" else None
            except ValueError:
                items = None
            if not isinstance(items, list) or not all(
                    isinstance(i, dict) and isinstance(i.get("token_id"), str) for i in items):
                return err(400, "Invalid payload")
            if len(items) > 500:
                return err(400, "Payload exceeds the limit")
            requested = [i["token_id"] for i in items]
            idx = live_index(now)
            texts = [book_text(idx[t], now) for t in requested if t in idx]
            ordered = list(texts)
            with self.server.app.lock:  # the real response order is unrelated (ref §2.5)
                self.server.app.rng.shuffle(texts)
            if len(texts) > 1 and texts == ordered:
                texts = texts[1:] + texts[:1]
            return 200, JSON, ("[" + ",".join(texts) + "]").encode(), (requested, texts)
        for prefix, is_event in (("/events/slug/", True), ("/markets/slug/", False)):
            if path.startswith(prefix):
                m = market_for_slug(path[len(prefix):].rstrip("/"))
                if m is None or not m.gamma_exists(now):
                    return 404, JSON, GAMMA_404, None
                obj = event_json(m, now) if is_event else market_json(m, now, True)
                return 200, JSON, compact(obj).encode(), None
        if path in ("/series", "/series/") or path.startswith("/series/"):
            key = path[len("/series/"):] if path.startswith("/series/") else None
            found = [series_json(s) for s in SERIES
                     if (s.id == key if key else s.slug in qs.get("slug", [s.slug]))]
            if key:
                return (200, JSON, compact(found[0]).encode(), None) if found else (404, JSON, GAMMA_404, None)
            return 200, JSON, compact(found).encode(), None
        return 404, "text/plain; charset=utf-8", b"404 page not found", None

    def control(self, app: App, path, query, body):
        """Control API: (status, content type, bytes). See README."""
        ok = lambda obj, status=200: (status, JSON, compact(obj).encode())
        cmd = self.command
        try:
            if path == "/_control/markets" and cmd == "GET":
                at = parse_qs(query).get("at")
                return ok(control_markets(float(at[0]) if at else time.time()))
            if path in ("/_control/served", "/_control/requests") and cmd == "GET":
                return ok(app.snapshot(path.rsplit("/", 1)[1]))
            if path == "/_control/reset" and cmd == "POST":
                app.reset()
                return ok({"ok": True})
            if path == "/_control/fault":
                if cmd == "POST":
                    app.set_fault(json.loads(body or b"null"))
                elif cmd == "DELETE":
                    with app.lock:
                        app.faults.clear()
                elif cmd != "GET":
                    return ok({"error": "method not allowed"}, 405)
                return ok(app.snapshot("faults"))
            if path == "/_control/skew" and cmd == "POST":
                seconds = json.loads(body or b"null")
                if type(seconds) is not int or abs(seconds) > 86400:
                    raise ValueError("the skew is a whole number of seconds, at most a day either way")
                Cfg.window_skew = seconds
                return ok({"window_skew": seconds})
            if path == "/_control/resolution":
                if cmd == "POST":
                    spec = json.loads(body or b"null")
                    if not isinstance(spec, dict) or spec.get("mode") not in RESOLUTION_MODES or not isinstance(spec.get("slug"), str) \
                            or market_for_slug(spec["slug"]) is None:
                        raise ValueError(f"expected {{\"slug\": <a market's slug>, \"mode\": one of {list(RESOLUTION_MODES)}, \"after\": seconds}}")
                    after = spec.get("after", {"normal": 60, "late": 300, "disputed": 400, "never": 0}[spec["mode"]])
                    if type(after) not in (int, float) or not 0 < after <= 7 * DAY and spec["mode"] != "never":
                        raise ValueError("after is seconds after the window's end, above 0 and at most 7 days")
                    Cfg.resolution[spec["slug"]] = (spec["mode"], after)
                elif cmd == "DELETE":
                    Cfg.resolution.clear()
                elif cmd != "GET":
                    return ok({"error": "method not allowed"}, 405)
                return ok({slug: {"mode": mode, "after": after} for slug, (mode, after) in Cfg.resolution.items()})
            if path == "/_control/info" and cmd == "GET":
                return ok({"seed": Cfg.seed, "activation_lead": Cfg.lead, "book_linger": Cfg.linger,
                           "book_period": Cfg.period, "now": time.time(),
                           "series": [{"name": s.name, "slug": s.slug, "id": s.id} for s in SERIES]})
        except (ValueError, OverflowError) as e:  # bad JSON, bad fault spec, bad `at`
            return ok({"error": str(e)}, 400)
        return ok({"error": f"unknown control endpoint {cmd} {path}"}, 404)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # hang-mode threads must not block shutdown
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, addr, app, stopping, ssl_ctx=None):
        self.app, self.stopping, self.ssl_ctx = app, stopping, ssl_ctx
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, Handler)

    def finish_request(self, request, client_address):
        """TLS handshake in the worker thread (not in accept()), so a silent client can't block."""
        # Headers and body leave in separate small writes; without NODELAY, Nagle waits for the
        # client's delayed ACK and every answer stalls ~40 ms, which real servers don't do.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_ctx is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(15)
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            self.shutdown_request(tls)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # disconnects are normal in fault tests
            if Cfg.verbose:
                sys.stderr.write(f"fake_polymarket: connection error {exc!r}\n")
            return
        traceback.print_exc()


# --------------------------------------------------------------------------------------------
# Startup.

def make_certs(state_dir: str, host: str) -> ssl.SSLContext:
    """Throwaway EC P-256 CA + server cert via the openssl CLI (extensions OpenSSL 3 accepts)."""
    p = lambda n: os.path.join(state_dir, n)
    san = "IP:127.0.0.1,IP:::1,DNS:localhost"
    if re.fullmatch(r"[0-9.]+|[0-9a-fA-F:]+", host) and host not in ("127.0.0.1", "::1", "0.0.0.0", "::"):
        san += f",IP:{host}"
    with open(p("openssl.cnf"), "w") as f:
        f.write("[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=fake-polymarket\n"
                "[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                "subjectKeyIdentifier=hash\n"
                "[v3_srv]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                f"extendedKeyUsage=serverAuth\nsubjectAltName={san}\nsubjectKeyIdentifier=hash\n"
                "authorityKeyIdentifier=keyid,issuer\n")

    def run(*args):
        r = subprocess.run(["openssl", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode:
            raise SystemExit(f"fake_polymarket: openssl {args[0]} failed: {r.stderr.decode()}")

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("req", "-x509", "-config", p("openssl.cnf"), "-extensions", "v3_ca", *ec, "-keyout", p("ca.key"),
        "-out", p("ca.pem"), "-days", "2", "-sha256", "-subj", "/CN=fake-polymarket test CA")
    run("req", "-new", "-config", p("openssl.cnf"), *ec, "-keyout", p("server.key"), "-out", p("server.csr"),
        "-subj", "/CN=localhost")
    run("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
        "-set_serial", "0x" + os.urandom(8).hex(), "-days", "2", "-sha256", "-extfile", p("openssl.cnf"),
        "-extensions", "v3_srv", "-out", p("server.pem"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(p("server.pem"), p("server.key"))
    return ctx


def self_check():
    """Hash test vector from py-clob-client (ref §2.4) and the slug anchors from the brief."""
    v = {"market": "0xaabbcc", "asset_id": "100", "timestamp": "123456789", "hash": "",
         "bids": [{"price": "0.3", "size": "100"}, {"price": "0.4", "size": "100"}],
         "asks": [{"price": "0.6", "size": "100"}, {"price": "0.7", "size": "100"}],
         "min_order_size": "100", "tick_size": "0.01", "neg_risk": False, "last_trade_price": "0.5"}
    assert book_hash(v) == "0458ea5755c9f73d64a14636fa5c36ed460ec394", book_hash(v)
    hourly = get_market("hourly", window_floor(BY_NAME["hourly"], 1790919000))  # 2026-10-02T05:30Z
    assert hourly.slug == "bitcoin-up-or-down-october-2-2026-1am-et", hourly.slug
    assert window_floor(BY_NAME["4h"], 1779829200) == 1779825600  # 2026-05-26T21:00Z


def serve(state_dir, host, handler=None):
    """Serves HTTP and HTTPS on two free ports of `host` (with `handler`, a Handler subclass, in
    place of ours) until SIGTERM or the parent's death; prints and writes the endpoints."""
    state_dir = os.path.abspath(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    endpoints = os.path.join(state_dir, "endpoints.json")
    if os.path.exists(endpoints):  # a stale file from an earlier run must not be mistaken for ours
        os.unlink(endpoints)
    ctx = make_certs(state_dir, host)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    app, stopping = App(), threading.Event()
    servers = [Server((host, 0), app, stopping), Server((host, 0), app, stopping, ctx)]
    for s in servers:
        if handler:
            s.RequestHandlerClass = handler
        threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    h = f"[{host}]" if ":" in host else host
    line = compact({"http": f"http://{h}:{servers[0].server_address[1]}",
                    "https": f"https://{h}:{servers[1].server_address[1]}",
                    "ca_file": os.path.join(state_dir, "ca.pem"), "pid": os.getpid()})
    with open(endpoints + ".tmp", "w") as f:  # atomic: pollers never see a half-written file
        f.write(line + "\n")
    os.replace(endpoints + ".tmp", endpoints)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    # A test runner that dies (killed, crashed) cannot stop us: leave with our parent.
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:
            break
    stopping.set()
    for s in servers:
        s.shutdown()
        s.server_close()
    return 0


def main():
    ap = argparse.ArgumentParser(description="Fake Polymarket Gamma+CLOB server for snap tests")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--activation-lead", type=float, default=30.0)
    ap.add_argument("--book-linger", type=float, default=90.0)
    ap.add_argument("--book-period", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--verbose", action="store_true")
    # Real books run to about 100 levels a side (24 bids and 74 asks in the reference's example);
    # benchmarks of sizes and compression want that, the tests do not need it.
    ap.add_argument("--max-levels", type=int, default=40, help="most price levels on a side of an open book")
    a = ap.parse_args()
    if a.book_period <= 0:
        ap.error("--book-period must be > 0")
    Cfg.seed, Cfg.lead, Cfg.linger, Cfg.period, Cfg.verbose, Cfg.max_levels = (
        a.seed, a.activation_lead, a.book_linger, a.book_period, a.verbose, a.max_levels)
    self_check()
    return serve(a.state_dir, a.host)


if __name__ == "__main__":
    sys.exit(main())

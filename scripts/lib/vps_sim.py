#!/usr/bin/env python3
"""Host-side helpers of scripts/vps-sim (the simulated VPS): they look at a container's data
directory from the host, never from inside, so what they see does not depend on the tools under test.

  watch   --data D --shadow S --events F      hard-link every new spool file, segment and manifest
                                              into S (same filesystem), log events (appeared, gone,
                                              receipt verified) to F as JSON lines; runs until killed
  kill    --cgroup C --match RE [--delay S] [--timeout S] [--also-parent] [--pid N]
                                              wait for a process of container C whose command line
                                              matches RE, then SIGKILL it (or PID N: a power cut)
  hashes  --data D                            sha256 of every file of spool/ sealed/ receipts/ (JSON)
  unchanged BEFORE --data D --shadow S        every file hashed in BEFORE is unchanged, or gone the
                                              way it may go (a spool file into a manifest, a part pruned
                                              after its receipt said verified)
  recovery --shadow S --events F --since T    seconds from T to the next complete snapshot and to
                                              shipping caught up (JSON)
  check   --data D --shadow S --remote R --journal J --collector C [--folder P]
                                              the whole-run checks (PASS/FAIL lines, JSON on fd 3)
  result  --faults F --checks C --out DIR     result.json and summary.md
"""
import argparse, gzip, hashlib, json, os, re, signal, sys, time, zlib

def digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()

def sha256(path):
    return digest(path, "sha256")

def md5(path):
    return digest(path, "md5")

def write_atomically(path, text):
    """Temporary name, fsync, rename, fsync the directory: a result is whole or absent."""
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

def walk(root):
    for d, _, fs in os.walk(root):
        for f in fs:
            yield os.path.join(d, f)

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def part_of(name):
    for suf in (".jsonl.gz", ".manifest.json", ".receipt.json", ".pruned.json"):
        if name.endswith(suf):
            return name[: -len(suf)]
    return None

# --- watch --------------------------------------------------------------------------------------

def cmd_watch(a):
    os.makedirs(os.path.join(a.shadow, "spool"), exist_ok=True)
    os.makedirs(os.path.join(a.shadow, "sealed"), exist_ok=True)
    seen_sealed = set()       # relative paths under sealed/ present at the last scan
    verified = set()
    ev = open(a.events, "a", buffering=1)
    def log(**kw):
        kw["t"] = round(time.time(), 3)
        ev.write(json.dumps(kw) + "\n")
    with open(a.pidfile, "w") as f:
        f.write(str(os.getpid()))
    spool = os.path.join(a.data, "spool")
    sealed = os.path.join(a.data, "sealed")
    receipts = os.path.join(a.data, "receipts")
    while True:
        try:
            for e in os.scandir(spool):
                if e.name.endswith(".jsonl.gz"):
                    dst = os.path.join(a.shadow, "spool", e.name)
                    if not os.path.exists(dst):
                        try:
                            os.link(e.path, dst)
                            log(ev="spool", name=e.name)
                        except OSError:
                            pass
        except OSError:
            pass
        now = set()
        for p in walk(sealed):
            rel = os.path.relpath(p, sealed)
            if not (rel.endswith(".jsonl.gz") or rel.endswith(".manifest.json")):
                continue
            now.add(rel)
            if rel not in seen_sealed:
                dst = os.path.join(a.shadow, "sealed", rel)
                if not os.path.exists(dst):
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    try:
                        os.link(p, dst)
                        log(ev="sealed", name=rel)
                    except OSError:
                        pass
        for rel in seen_sealed - now:
            part = part_of(os.path.basename(rel))
            r = load(os.path.join(receipts, os.path.dirname(rel), part + ".receipt.json"))
            log(ev="gone", name=rel, receipt_status=(r or {}).get("status"))
        seen_sealed = now
        for p in walk(receipts):
            if p.endswith(".receipt.json") and p not in verified:
                r = load(p)
                if r and r.get("status") == "verified":
                    verified.add(p)
                    log(ev="verified", part=r.get("part"))
        time.sleep(0.1)

# --- kill ---------------------------------------------------------------------------------------

def procs(cgroup, pattern):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                if f"/vpssim.{cgroup}/" not in f.read():
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if re.search(pattern, cmd):
            out.append((int(pid), cmd))
    return out

def ppid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])

def partial_upload(remote, local, since):
    """A file on the remote, written since `since`, that is part of a local sealed file: some bytes
    sent, not all (a partial file left by an earlier kill is older)."""
    for p in walk(remote):
        rel = os.path.relpath(p, remote)
        try:
            st, size = os.stat(p), os.stat(os.path.join(local, rel)).st_size
        except OSError:
            continue
        sent = st.st_size
        if 0 < sent < size and st.st_mtime >= since:
            return {"file": rel, "remote_bytes": sent, "local_bytes": size}
    return None

def cmd_kill(a):
    start = time.time()
    end = start + a.timeout
    seen = False
    delay = a.delay
    while time.time() < end:
        found = procs(a.cgroup, a.match)
        seen = seen or bool(found)
        partial = None
        if found and a.mid_upload:     # only once the remote holds part of a file, not all of it
            partial = partial_upload(*a.mid_upload, start)
            if partial is None:
                time.sleep(0.01)
                continue
        if found:
            time.sleep(delay)
            pid, cmd = found[0]
            targets = [a.pid] if a.pid else [pid]
            if a.also_parent and not a.pid:
                try:
                    targets.append(ppid(pid))
                except OSError:
                    pass
            alive = os.path.exists(f"/proc/{pid}")
            if not alive:             # it ended before the delay was over: the next one, sooner
                delay /= 2
                continue
            for t in targets:
                try:
                    os.kill(t, signal.SIGKILL)
                except OSError:
                    pass
            print(json.dumps({"killed": alive, "pid": pid, "targets": targets, "cmd": cmd[:200], "t": time.time(), "delay": round(delay, 4),
                              **({"mid_upload": partial} if partial else {})}))
            return 0 if alive else 2
        time.sleep(0.002)
    print(json.dumps({"killed": False, "error": "no upload seen half-sent" if seen and a.mid_upload else "no matching process"}))
    return 1

# --- hashes / unchanged ---------------------------------------------------------------------------

def cmd_hashes(a):
    out = {}
    for sub in ("spool", "sealed", "receipts"):
        for p in walk(os.path.join(a.data, sub)):
            rel = os.path.relpath(p, a.data)
            if sub == "receipts" and p.endswith(".receipt.json"):
                r = load(p)
                if not r or r.get("status") != "verified":
                    continue          # a failed receipt is rewritten by the next attempt, by design
            try:
                out[rel] = sha256(p)
            except OSError:
                pass
    json.dump(out, sys.stdout)

def sources_index(shadow):
    idx = {}
    for p in walk(os.path.join(shadow, "sealed")):
        if p.endswith(".manifest.json"):
            m = load(p) or {}
            for s in m.get("sources", []):
                idx.setdefault(s["name"], []).append((p, s))
            for q in m.get("quarantined", []):
                idx.setdefault(q["name"], []).append((p, q))
    return idx

def cmd_unchanged(a):
    before = load(a.before)
    idx = sources_index(a.shadow)
    bad = []
    for rel, h in before.items():
        p = os.path.join(a.data, rel)
        if os.path.exists(p):
            if sha256(p) != h:
                bad.append(f"changed: {rel}")
        elif rel.startswith("spool/"):
            if os.path.basename(rel) not in idx:
                bad.append(f"gone, in no manifest: {rel}")
        elif rel.startswith("sealed/"):
            part = part_of(os.path.basename(rel))
            r = load(os.path.join(a.data, "receipts", os.path.dirname(rel)[len("sealed/"):], part + ".pruned.json"))
            if not r:
                bad.append(f"gone, no prune record: {rel}")
        else:
            bad.append(f"gone: {rel}")
    for b in bad[:10]:
        print(b, file=sys.stderr)
    print(json.dumps({"files": len(before), "bad": len(bad)}))
    return 1 if bad else 0

# --- recovery -----------------------------------------------------------------------------------

NAME_TIME = re.compile(r"^(\d{8}T\d{6}\.\d{3})Z_")

def name_epoch(name):
    m = NAME_TIME.match(name)
    if not m:
        return None
    return time.mktime(time.strptime(m.group(1)[:15], "%Y%m%dT%H%M%S")) - time.timezone + float("0" + m.group(1)[15:])

def run_row(path):
    try:
        with gzip.open(path, "rt") as f:
            last = None
            for line in f:
                last = line
        return json.loads(last) if last else None
    except (OSError, ValueError, EOFError, zlib.error):
        return None

def cmd_recovery(a):
    since = float(a.since)
    first_complete = None
    for name in sorted(os.listdir(os.path.join(a.shadow, "spool"))):
        t = name_epoch(name)
        if t is None or t < since:
            continue
        r = run_row(os.path.join(a.shadow, "spool", name))
        if r and r.get("outcome") == "complete":
            first_complete = t
            break
    # caught up: the first moment after `since` at which every part sealed so far is verified,
    # and some part sealed after `since` is among them
    sealed, verified, caught = {}, set(), None
    for line in open(a.events):
        e = json.loads(line)
        if e["ev"] == "sealed" and e["name"].endswith(".manifest.json"):
            sealed[part_of(os.path.basename(e["name"]))] = e["t"]
        elif e["ev"] == "verified":
            verified.add(e["part"])
            if e["t"] >= since and any(t >= since for t in sealed.values()) and set(sealed) <= verified:
                caught = e["t"]
                break
    print(json.dumps({"next_complete_s": None if first_complete is None else round(first_complete - since, 1),
                      "caught_up_s": None if caught is None else round(caught - since, 1)}))

# --- the whole-run checks -----------------------------------------------------------------------

class Checks:
    def __init__(self, label):
        self.label, self.items = label, []
    def add(self, ok, what, detail=""):
        self.items.append({"check": f"{self.label}: {what}", "pass": bool(ok), "detail": detail})
        print(f"{'PASS' if ok else 'FAIL'} {self.label}: {what}" + (f" ({detail})" if detail else ""), flush=True)

def gzip_ok(path):
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
        return True
    except (OSError, EOFError, zlib.error):
        return False

def journal_invocations(path):
    """{invocation id: {boot, t, msgs: [...], times: [...]}}, and the run= lines journald could not
    give an invocation id (the process had exited, its cgroup gone, when journald read the line:
    it lags under load), as (time, message)."""
    inv, orphans = {}, []
    for line in open(path, errors="replace"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        i = e.get("_SYSTEMD_INVOCATION_ID") or e.get("INVOCATION_ID")
        msg = e.get("MESSAGE")
        if not isinstance(msg, str):
            continue
        t = int(e.get("__REALTIME_TIMESTAMP", 0)) / 1e6
        if not i:
            if "run=" in msg:
                orphans.append((t, msg))
            continue
        d = inv.setdefault(i, {"boot": e.get("_BOOT_ID"), "t": t, "msgs": [], "times": []})
        d["msgs"].append(msg)
        d["times"].append(t)
    return inv, orphans

def cmd_check(a):
    a.events = a.events or os.path.join(a.shadow, "events.jsonl")
    c = Checks(a.collector)
    shadow_spool = os.path.join(a.shadow, "spool")
    spool_names = sorted(n for n in os.listdir(shadow_spool) if n.endswith(".jsonl.gz"))
    runid = {n.rsplit("_", 1)[1][:16]: n for n in spool_names}
    # 1. every snap start maps to one spool file, or to a journal line saying why there is none
    inv, orphans = journal_invocations(a.journal)
    starts = {i: d for i, d in inv.items() if any(m.startswith("Starting ") for m in d["msgs"])}
    last_by_boot = {}
    for i, d in starts.items():
        b = d["boot"]
        if b not in last_by_boot or d["t"] > starts[last_by_boot[b]]["t"]:
            last_by_boot[b] = i
    idx = sources_index(a.shadow)
    live = set(os.listdir(os.path.join(a.data, "spool"))) if os.path.isdir(os.path.join(a.data, "spool")) else set()
    counts, unexplained = {}, []
    claimed = set()   # run ids taken from the orphans: each one goes to one start only
    for i, d in sorted(starts.items(), key=lambda x: x[1]["t"]):
        text = "\n".join(d["msgs"])
        ids = set(re.findall(r"run=([0-9a-f]{16})", text))
        if not ids:   # snap's line may have reached journald without the invocation id: by time
            t0, t1 = min(d["times"]), max(d["times"]) + 1.0
            near = [m for t, m in orphans if t0 <= t <= t1]
            # the window may hold the next run's line too (runs are a second apart): the run is
            # the one whose file is named for the time closest to this start
            cands = [r for r in set(re.findall(r"run=([0-9a-f]{16})", "\n".join(near))) if r not in claimed]
            named = sorted((abs(name_epoch(runid[r]) - t0), r) for r in cands if r in runid and name_epoch(runid[r]))
            ids = {named[0][1]} if named else set(cands[:1])
            claimed |= ids
            text += "\n" + "\n".join(m for m in near if any(r in m for r in ids))
        files = [runid[r] for r in ids if r in runid]
        sealed_fast = []   # linked and sealed within the watcher's poll: the manifest has it, with snap's sha256
        if not files:
            for r in ids:
                for m in re.finditer(r"run=%s .*file=\S*/([^/\s]+) sha256=([0-9a-f]{64})" % r, text):
                    if any(src.get("sha256") == m.group(2) for _, src in idx.get(m.group(1), [])):
                        sealed_fast.append(m.group(1))
        if len(files) == 1:
            kind = "file"
        elif len(sealed_fast) == 1:
            kind = "file (sealed before the watcher linked it; manifest sha256 = snap's)"
        elif len(files) > 1:
            kind = "several files"
        elif "could not write the failure record" in text or "outcome_written=no" in text or "No space left" in text:
            kind = "disk full (journal)"
        elif "outcome=failed error=" in text:
            kind = "cannot write (journal)"
        elif "Failed with result 'signal'" in text or "code=killed" in text:
            kind = "killed (journal)"
        elif not any(m.startswith("Finished ") or "Deactivated" in m or "Failed with" in m for m in d["msgs"]) \
                and last_by_boot.get(d["boot"]) == i:
            kind = "power cut or shutdown (last start of its boot)"
        elif any(m.startswith("Stopped ") or m.startswith("Stopping ") for m in d["msgs"]):
            kind = "stopped (journal)"
        elif "Starting " in text and len(d["msgs"]) == 1:
            kind = "still running or cut"
            if time.time() - d["t"] > 60:
                kind = "unexplained"
        else:
            kind = "unexplained"
        counts[kind] = counts.get(kind, 0) + 1
        if kind in ("unexplained", "several files"):
            unexplained.append(f"{i}: {d['msgs'][-3:]}")
    for u in unexplained[:5]:
        print("   " + u[:300], file=sys.stderr)
    c.add(len(starts) > 0 and not unexplained,
          f"every snap start ({len(starts)}) maps to one spool file or a journal reason", json.dumps(counts))
    # 2. every complete spool file is in the sealed segments exactly once, byte for byte
    manifests = [p for p in walk(os.path.join(a.shadow, "sealed")) if p.endswith(".manifest.json")]
    missing, twice, diff = [], [], []
    segs = {}
    for n in spool_names:
        hits = idx.get(n, [])
        if not hits:
            if n not in live:           # still in the spool: the open window, not sealed yet
                missing.append(n)
            continue
        if len(hits) > 1:
            twice.append(n)
        mpath, s = hits[0]
        if "offset" in s and s.get("offset") is not None and "sha256" in s and "moved_to" not in s:
            seg = mpath[: -len(".manifest.json")] + ".jsonl.gz"
            if seg not in segs:
                try:
                    segs[seg] = open(seg, "rb").read()
                except OSError:
                    segs[seg] = b""
            piece = segs[seg][s["offset"]: s["offset"] + s["bytes"]]
            if hashlib.sha256(piece).hexdigest() != sha256(os.path.join(shadow_spool, n)):
                diff.append(n)
    for what, lst in (("missing", missing), ("twice", twice), ("differs", diff)):
        for n in lst[:3]:
            print(f"   {what}: {n}", file=sys.stderr)
    c.add(spool_names and not missing and not twice and not diff,
          f"every spool file ({len(spool_names)}, {len(live)} still unsealed) in the segments exactly once, byte for byte",
          f"missing {len(missing)}, twice {len(twice)}, differs {len(diff)}, manifests {len(manifests)}")
    # rows: a segment holds only its sources' rows
    extra = []
    for mp in manifests:
        m = load(mp) or {}
        if sum(s.get("rows", 0) for s in m.get("sources", [])) + sum(q.get("rows_salvaged") or 0 for q in m.get("quarantined", [])) != m.get("rows"):
            extra.append(os.path.basename(mp))
    c.add(manifests and not extra, f"each manifest's rows are its sources' rows ({len(manifests)} manifests)", ", ".join(extra[:3]))
    # 3. gzip -t of everything kept
    allgz = [os.path.join(shadow_spool, n) for n in spool_names] + \
            [p for p in walk(os.path.join(a.shadow, "sealed")) if p.endswith(".gz")]
    badgz = [p for p in allgz if not gzip_ok(p)]
    c.add(allgz and not badgz, f"gzip -t of every spool file and segment ({len(allgz)})", ", ".join(badgz[:3]))
    # 4. every sealed part verified on the remote with the manifest's md5; receipts complete
    notver, badmd5, nofile = [], [], []
    for mp in manifests:
        m = load(mp) or {}
        rel = os.path.relpath(mp, os.path.join(a.shadow, "sealed"))
        day, name = os.path.dirname(rel), os.path.basename(rel)
        part = part_of(name)
        r = load(os.path.join(a.data, "receipts", day, part + ".receipt.json"))
        if not r or r.get("status") != "verified":
            notver.append(part); continue
        seg = m["files"][0]
        rf = os.path.join(a.remote, a.folder, day, seg["name"])
        rm = os.path.join(a.remote, a.folder, day, name)
        if not os.path.exists(rf) or not os.path.exists(rm):
            nofile.append(part); continue
        if md5(rf) != seg["md5"] or r["files"][0].get("remote_md5") != seg["md5"] or sha256(rm) != sha256(mp):
            badmd5.append(part)
    c.add(manifests and not notver, f"every sealed part has a verified receipt ({len(manifests) - len(notver)}/{len(manifests)})",
          ", ".join(notver[:3]))
    c.add(manifests and not badmd5 and not nofile, "remote copy of every part: md5 = the manifest's, manifest identical",
          f"missing {len(nofile)}, md5 differs {len(badmd5)}")
    # 5. nothing local deleted before its receipt said verified
    early = []
    for line in open(a.events):
        e = json.loads(line)
        if e["ev"] == "gone" and e.get("receipt_status") != "verified":
            early.append(e["name"])
    gone = sum(1 for l in open(a.events) if json.loads(l)["ev"] == "gone")
    c.add(not early, "no sealed file deleted before its receipt said verified",
          f"{gone} deleted" + ("; early: " + ", ".join(early[:3]) if early else ""))
    json.dump(c.items, os.fdopen(3, "w"))
    return 0 if all(i["pass"] for i in c.items) else 1

# --- result.json and summary.md -------------------------------------------------------------------

def per_collector(f, key):
    """A recovery figure of a fault: one number, or one per collector the fault hit."""
    rec = f.get("recovery") or {}
    if len(rec) <= 1:
        return str(f.get(key))
    return ", ".join(f"{c} {r.get(key)}" for c, r in rec.items())

def cmd_result(a):
    faults = [json.loads(l) for l in open(a.faults)] if os.path.exists(a.faults) else []
    checks = []
    for p in a.checks:
        if os.path.exists(p):
            checks += json.load(open(p))
    meta = json.load(open(a.meta)) if a.meta and os.path.exists(a.meta) else {}
    faults.sort(key=lambda f: f["at"])
    for f in faults:   # faults that ran at the same time (the remote is down while local faults run)
        f["during"] = [g["fault"] for g in faults if g is not f and g["at"] < f["end"] and g["end"] > f["at"]]
    ok = all(f.get("pass") for f in faults) and all(c["pass"] for c in checks)
    res = dict(meta, passed=ok, faults=faults, whole_run_checks=checks)
    os.makedirs(a.out, exist_ok=True)
    write_atomically(os.path.join(a.out, "result.json"), json.dumps(res, indent=2))
    lines = [f"# vps-sim {meta.get('mode', '')}: {'PASS' if ok else 'FAIL'}", "",
             f"{meta.get('started_at', '')}, {meta.get('seconds', '?')} s, package {meta.get('version', '?')} -> {meta.get('next_version', '?')}", "",
             "Recovery is counted from each fault's end: to the first complete snapshot, and to the first moment every "
             "part sealed so far is verified on the remote (for a fault that ran while the remote was down, that "
             "includes the rest of the outage).", "",
             "| fault | at | what | during | checks | next complete snapshot (s) | shipping caught up (s) | result |",
             "|---|---|---|---|---|---|---|---|"]
    for f in faults:
        ch = "; ".join(f"{'ok' if c['pass'] else 'FAILED'} {c['check']}" for c in f.get("checks", []))
        lines.append(f"| {f['fault']} | {f.get('at_utc', '')} | {f.get('detail', '')} | {', '.join(f['during'])} | {ch} | "
                     f"{per_collector(f, 'next_complete_s')} | {per_collector(f, 'caught_up_s')} | {'PASS' if f.get('pass') else 'FAIL'} |")
    lines += ["", "## Whole run", ""] + [f"- {'PASS' if c['pass'] else 'FAIL'} {c['check']}" + (f" ({c['detail']})" if c['detail'] else "") for c in checks]
    write_atomically(os.path.join(a.out, "summary.md"), "\n".join(lines) + "\n")
    print(os.path.join(a.out, "result.json"))
    return 0 if ok else 1

def cmd_health(a):
    """gate health's samples against the faults: each fault that stops capture (Polymarket
    unreachable, the disk full) must be seen CRITICAL (capture) while it lasts and OK after it,
    on each collector it hit; every other fault's states are listed. One line per check on
    stdout: 0|1 <TAB> description <TAB> detail."""
    samples = [json.loads(l) for l in open(a.samples) if l.strip()]
    faults = [json.loads(l) for l in open(a.faults) if l.strip()]
    def capture(sample):
        for c in (sample.get("health") or {}).get("checks", []):
            if c["name"] == "capture":
                return c["status"]
        return "no answer"
    for f in faults:
        for collector in sorted({x["collector"] for x in samples if x["vps"] in f.get("vps", [])}):
            mine = [x for x in samples if x["collector"] == collector]
            during = [capture(x) for x in mine if f["at"] <= x["t"] <= f["end"] + 2]
            after = [capture(x) for x in mine if f["end"] + 2 < x["t"] <= f["end"] + 90]
            seen = ", ".join(f"{k} x{during.count(k)}" for k in sorted(set(during))) or "no sample"
            detail = f"{collector} during: {seen}; after: {', '.join(after[:6]) or 'no sample'}"
            if f["fault"] in ("polymarket-unreachable", "disk-full"):
                ok = "CRITICAL" in during and "OK" in after
                print(f"{0 if ok else 1}\tgate health: capture CRITICAL during {f['fault']} and OK after\t{detail}")
            else:
                print(f"0\tgate health during {f['fault']} (recorded)\t{detail}")
    for collector in sorted({x["collector"] for x in samples}):
        last = [x for x in samples if x["collector"] == collector][-1]
        ok = last.get("rc") in (0, 1) and capture(last) == "OK"
        print(f"{0 if ok else 1}\tgate health at the end: capture OK, exit 0 or 1\t{collector}: exit {last.get('rc')}, "
              f"{(last.get('health') or {}).get('summary', 'no answer')[:300]}")
    return 0

def main():
    p = argparse.ArgumentParser()
    s = p.add_subparsers(dest="cmd", required=True)
    w = s.add_parser("watch"); w.add_argument("--data"); w.add_argument("--shadow"); w.add_argument("--events"); w.add_argument("--pidfile")
    k = s.add_parser("kill"); k.add_argument("--cgroup"); k.add_argument("--match"); k.add_argument("--delay", type=float, default=0)
    k.add_argument("--timeout", type=float, default=90); k.add_argument("--also-parent", action="store_true"); k.add_argument("--pid", type=int)
    k.add_argument("--mid-upload", nargs=2, metavar=("REMOTE_DIR", "SEALED_DIR"))
    h = s.add_parser("hashes"); h.add_argument("--data")
    u = s.add_parser("unchanged"); u.add_argument("before"); u.add_argument("--data"); u.add_argument("--shadow")
    r = s.add_parser("recovery"); r.add_argument("--shadow"); r.add_argument("--events"); r.add_argument("--since")
    c = s.add_parser("check"); c.add_argument("--data"); c.add_argument("--shadow"); c.add_argument("--remote"); c.add_argument("--journal")
    c.add_argument("--collector"); c.add_argument("--folder", default="orderbooks/polymarket"); c.add_argument("--events")
    o = s.add_parser("result"); o.add_argument("--faults"); o.add_argument("--checks", nargs="*", default=[]); o.add_argument("--out"); o.add_argument("--meta")
    hl = s.add_parser("health"); hl.add_argument("--samples"); hl.add_argument("--faults")
    a = p.parse_args()
    sys.exit({"health": cmd_health, "watch": cmd_watch, "kill": cmd_kill, "hashes": cmd_hashes, "unchanged": cmd_unchanged, "recovery": cmd_recovery,
              "check": cmd_check, "result": cmd_result}[a.cmd](a) or 0)

if __name__ == "__main__":
    main()

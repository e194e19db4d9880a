#!/usr/bin/env python3
"""Host-side number work of `scripts/vps-sim cost`: what a snapshot costs the whole container
under each unit variant. Everything is read from the host (cgroup files, the journal files;
journalctl runs through nsenter, in the host's cgroup), so measuring costs the container nothing.

  measure --unified DIR --cpuacct FILE --journal-dir DIR --spool DIR --leader PID --seconds S
          [--service-cgroup NAME] --variant V --round R --append FILE
                          one window of S seconds, from a half second to a half second (the timer
                          starts snap on the whole second, so no run straddles an edge): CPU of the
                          container and of its parts, runs, journal bytes; a JSON line onto FILE,
                          a summary on stdout
  effects SHIPPED VARIANT [--volatile SHOW...]
                          the properties of `systemctl show` that differ from the shipped unit's
                          (runtime state left out); exit 1 if none: the variant did nothing
  report  --variants F --rounds F --out DIR --meta JSON --journal-storage TEXT [--doc]
                          result.json and table.md; with --doc also docs/PERFORMANCE.md

CPU split (unified hierarchy, cpu.stat usage_usec; a cgroup's usage includes its children's,
also of children already removed):
  whole    the container's cgroup as a whole: cpuacct.usage on a hybrid host (the cgroup the
           nspawn launcher joined), else the unified one: PID 1, services, nspawn's supervisor
  pid1     payload/init.scope: the container's systemd (timer, fork, unit bookkeeping)
  journald payload/system.slice/systemd-journald.service
  service  the oneshot's runs. Its cgroup is removed after each run, and systemd here keeps no
           per-run CPUUsageNSec (no cpuacct controller in the container), so: system.slice's
           usage minus every child that lived through the whole window (journald, dbus, logind,
           ...). What is left is what ran in cgroups born in the window: the snap runs (any other
           born there is reported). For cron, the service is cron.service (a long-lived cgroup).
  other    whole - pid1 - journald - service: dbus, logind, nspawn's supervisor, ...
"""
import argparse, ctypes, json, os, re, select, statistics, struct, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vps_sim import name_epoch, write_atomically  # noqa: E402

# --- cgroups ------------------------------------------------------------------------------------

def usage_us(cg):
    with open(os.path.join(cg, "cpu.stat")) as f:
        for line in f:
            k, v = line.split()
            if k == "usage_usec":
                return int(v)
    raise SystemExit(f"{cg}/cpu.stat: no usage_usec")

def whole_us(a):
    if a.cpuacct:
        with open(a.cpuacct) as f:
            return int(f.read()) / 1000
    return usage_us(a.unified)

def children(cg):
    out = {}
    for e in os.scandir(cg):
        if e.is_dir():
            try:
                out[e.name] = usage_us(e.path)
            except OSError:       # removed while we read it
                pass
    return out

# --- the journal: bytes of the objects the window's entries added --------------------------------
# A journal file grows on disk in 8 MiB steps, and within it the entry arrays (an entry's offset,
# listed once per field value it has and once in the file's own list) are preallocated in
# doubling steps: a window may pay for the next hour's. So the objects written in the window
# are walked (systemd's src/libsystemd/sd-journal/journal-def.h): data,
# field and entry objects count whole; entry arrays count as the references the window's
# entries put in them (4 bytes each in a compact file, 8 otherwise), without the slack.
# Files are keyed by their id (archiving renames one).

OBJ_DATA, OBJ_FIELD, OBJ_ENTRY, OBJ_TAG = 1, 2, 3, 7   # hash tables and entry arrays are the others
COMPACT = 1 << 4

def journal_files(d):
    """{file id: (path, end of the last object, compact)}"""
    out = {}
    for root, _, files in os.walk(d):
        for n in files:
            if not n.endswith(".journal"):
                continue
            path = os.path.join(root, n)
            try:
                with open(path, "rb") as f:
                    h = f.read(144)
                    if len(h) < 144 or h[:8] != b"LPKSHHRH":
                        continue
                    tail = struct.unpack_from("<Q", h, 136)[0]
                    f.seek(tail)
                    o = f.read(16)
            except OSError:
                continue
            size = struct.unpack_from("<Q", o, 8)[0] if len(o) == 16 else 0
            compact = bool(struct.unpack_from("<I", h, 12)[0] & COMPACT)
            out[h[24:40].hex()] = (path, tail + (size + 7) // 8 * 8, compact)
    return out

def journal_added(before, after):
    """Bytes of the objects added between two journal_files() samples, and the raw growth."""
    added = raw = entries = 0
    for fid, (path, end, compact) in after.items():
        start = before[fid][1] if fid in before else None
        if start is None:                         # a file begun in the window: from its first object
            with open(path, "rb") as f:
                start = struct.unpack_from("<Q", f.read(96), 88)[0]
        raw += end - start
        refs = new_data = 0
        with open(path, "rb") as f:
            f.seek(start)
            blob = f.read(end - start)
        i = 0
        while i + 16 <= len(blob):
            kind, size = blob[i], struct.unpack_from("<Q", blob, i + 8)[0]
            if size < 16:
                break
            if kind == OBJ_DATA:
                new_data += 1
            if kind == OBJ_ENTRY:
                entries += 1
                refs += (size - 64) // (4 if compact else 16) + 1    # each of its fields, and the file's list
            if kind in (OBJ_DATA, OBJ_FIELD, OBJ_ENTRY, OBJ_TAG):
                added += size
            i += (size + 7) // 8 * 8
        added += (refs - new_data) * (4 if compact else 8)           # a new data object holds its first entry inline
    return added, raw, entries

# --- runs: every creation of the service's cgroup, seen by inotify from the host ------------------

IN_CREATE, IN_NONBLOCK = 0x100, 0o4000

class Births:
    def __init__(self, path):
        self.libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, path.encode(), IN_CREATE) < 0:
            raise SystemExit(f"inotify on {path}: errno {ctypes.get_errno()}")
        self.names = {}

    def drain(self):
        while select.select([self.fd], [], [], 0)[0]:
            buf = os.read(self.fd, 65536)
            i = 0
            while i < len(buf):
                _, _, _, n = struct.unpack_from("iIII", buf, i)
                name = buf[i + 16: i + 16 + n].rstrip(b"\0").decode()
                self.names[name] = self.names.get(name, 0) + 1
                i += 16 + n

def sample(a, system):
    return {"t": time.time(), "whole": whole_us(a), "pid1": usage_us(os.path.join(a.unified, "payload", "init.scope")),
            "system": usage_us(system), "children": children(system), "journal": journal_files(a.journal_dir)}

def cmd_measure(a):
    system = os.path.join(a.unified, "payload", "system.slice")
    births = Births(system)
    now = time.time()
    time.sleep((int(now) + 1.5 - now) % 1)        # to the next half second
    s0 = sample(a, system)
    births.drain(); births.names.clear()          # only what is born in the window
    end = s0["t"] + a.seconds
    while time.time() < end:                      # drained as it goes: the queue is bounded
        births.drain()
        time.sleep(min(1, max(0, end - time.time())))
    s1 = sample(a, system)
    births.drain()
    us = lambda k: s1[k] - s0[k]
    service_name = a.service_cgroup or "orderbooks-snap.service"
    lived = {n: s1["children"][n] - u for n, u in s0["children"].items() if n in s1["children"] and n != service_name}
    journald = lived.pop("systemd-journald.service", 0)
    service = us("system") - journald - sum(lived.values())
    t0, t1 = s0["t"], s1["t"]
    files = sorted(n for n in os.listdir(a.spool) if n.endswith(".jsonl.gz") and t0 <= (name_epoch(n) or 0) < t1)
    # seal is stopped: old snapshots go, so every window sees the same small spool directory
    for n in os.listdir(a.spool):
        if n.endswith(".jsonl.gz") and (name_epoch(n) or t1) < t1:
            os.unlink(os.path.join(a.spool, n))
    runs = len(files) if a.service_cgroup else births.names.pop("orderbooks-snap.service", 0)
    # the window's journal entries as journalctl exports them: an upper bound of the bytes written
    export = subprocess.run(["nsenter", "-t", str(a.leader), "-a", "journalctl", "-o", "export", "--no-pager",
                             "--since", f"@{t0:.3f}", "--until", f"@{t1:.3f}"], capture_output=True, check=True).stdout
    journal, journal_raw, journal_entries = journal_added(s0["journal"], s1["journal"])
    rec = {"variant": a.variant, "round": a.round, "t0": round(t0, 3), "seconds": round(t1 - t0, 3),
           "runs": runs, "runs_counted_by": "spool files" if a.service_cgroup else "cgroups created (inotify)",
           "files": len(files), "other_cgroups_born": births.names,
           "whole_ms": round(us("whole") / 1000, 3), "pid1_ms": round(us("pid1") / 1000, 3),
           "journald_ms": round(journald / 1000, 3), "service_ms": round(service / 1000, 3),
           "long_lived_ms": {n: round(u / 1000, 3) for n, u in sorted(lived.items()) if u},
           "journal_bytes": journal, "journal_entries": journal_entries, "journal_raw_bytes": journal_raw,
           "journal_files_new": len(set(s1["journal"]) - set(s0["journal"])),
           "export_bytes": len(export), "export_entries": export.count(b"\n\n")}
    rec["other_ms"] = round(rec["whole_ms"] - rec["pid1_ms"] - rec["journald_ms"] - rec["service_ms"], 3)
    with open(a.append, "a") as f:
        f.write(json.dumps(rec) + "\n")
    n = max(runs, 1)
    print(f"{a.variant} round {a.round}: {runs} runs in {t1 - t0:.0f} s, {rec['whole_ms'] / n:.1f} ms CPU per snapshot "
          f"(PID 1 {rec['pid1_ms'] / n:.1f}, journald {rec['journald_ms'] / n:.1f}, service {rec['service_ms'] / n:.1f}), "
          f"journal {journal / n:.0f} B per run, {len(files)} snapshot files" + (f"; also born: {births.names}" if births.names else ""))

# --- effects: did the variant change the unit? ----------------------------------------------------

RUNTIME = re.compile(r"Timestamp|PID$|^InvocationID$|^ControlGroupId$|^ExecMain|State$|^Result$|^NRestarts$|Current$|"
                     r"^CPUUsageNSec$|^IP(Ingress|Egress)|^IO(Read|Write)|^Status|^FragmentPath$|^DropInPaths$|"
                     r"^NeedDaemonReload$|^Condition|^Assert|^Names$|^Triggered|^ControlGroup$|^Job$|^[UG]ID$")

def show(path):
    out = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition("=")
        if not RUNTIME.search(k):
            # an Exec line: its command, not its last run; lists (After=, Wants=...) come in any order
            out[k] = " ".join(sorted(re.sub(r" ; (ignore_errors|flags)=.*", "", v).split()))
    return out

def cmd_effects(a):
    base, var = show(a.shipped), show(a.variant)
    volatile = set()
    for p in a.volatile or []:
        volatile |= {k for k, v in show(p).items() if base.get(k) != v}
    changed = [f"{k}={var.get(k, '')}" for k in sorted(set(base) | set(var)) if k not in volatile and base.get(k) != var.get(k)]
    print(json.dumps(changed))
    return 0 if changed else 1

# --- report ---------------------------------------------------------------------------------------

def per_run(r, key):
    return r[key] / r["runs"] if r["runs"] else None

def median(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 2) if xs else None

def cmd_report(a):
    variants = [json.loads(l) for l in open(a.variants)]
    rounds = [json.loads(l) for l in open(a.rounds)]
    meta = json.loads(a.meta)
    out = []
    for v in variants:
        mine = sorted((r for r in rounds if r["variant"] == v["name"]), key=lambda r: r["round"])
        per_round = [dict(round=r["round"], runs=r["runs"], seconds=r["seconds"], files=r["files"],
                          cpu_ms_per_start=per_run(r, "whole_ms"), pid1_ms=per_run(r, "pid1_ms"),
                          journald_ms=per_run(r, "journald_ms"), service_ms=per_run(r, "service_ms"),
                          other_ms=per_run(r, "other_ms"), journal_bytes_per_run=per_run(r, "journal_bytes"),
                          journal_raw_bytes_per_run=per_run(r, "journal_raw_bytes"), journal_entries=r["journal_entries"],
                          export_bytes_per_run=per_run(r, "export_bytes"), export_entries=r["export_entries"],
                          long_lived_ms=r["long_lived_ms"],
                          other_cgroups_born=r["other_cgroups_born"], journal_files_new=r["journal_files_new"])
                     for r in mine]
        m = {k: median(p[k] for p in per_round) for k in
             ("cpu_ms_per_start", "pid1_ms", "journald_ms", "service_ms", "other_ms", "journal_bytes_per_run")}
        out.append({"name": v["name"], "label": v["label"], "exposure": v["exposure"],
                    "runs": sum(r["runs"] for r in mine), "seconds": round(sum(r["seconds"] for r in mine), 1), **m,
                    "journal_mb_per_day": None if m["journal_bytes_per_run"] is None else round(m["journal_bytes_per_run"] * 86400 / 1e6, 1),
                    "per_round": per_round})
    res = dict(meta, variants=out)
    os.makedirs(a.out, exist_ok=True)
    write_atomically(os.path.join(a.out, "result.json"), json.dumps(res, indent=2) + "\n")
    md = table(res, a.journal_storage)
    write_atomically(os.path.join(a.out, "table.md"), md)
    if a.doc:
        from perfdoc import write_section
        write_section("vps-sim cost", md)
    print(md)

def fmt(x, nd=1):
    return "—" if x is None else f"{x:.{nd}f}"

def table(res, storage):
    lines = [f"`scripts/vps-sim cost`, {res['date']}: {res['host']}, kernel {res['kernel']}, {res['systemd']} in the "
             f"container; {res['rounds']} round(s) of {res['seconds']} s per variant under the shipped timer (1 Hz), "
             "rounds interleaved (serpentine order). Only snap runs: the seal, ship and prune timers and "
             "systemd-tmpfiles-clean.timer are stopped. CPU in ms per snapshot: the whole container (median over "
             "rounds, min–max), then its parts (medians): PID 1 (init.scope), journald, the service's runs (system.slice "
             "minus the cgroups that lived through the window), other (dbus, logind, nspawn). Journal: bytes of the "
             f"objects the window's entries added to the journal files ({storage}; entry arrays by the references "
             "added, not their preallocation), per snapshot times 86,400, in MB (10^6 bytes).", "",
             "| variant | label | exposure | CPU ms/snapshot (min–max) | PID 1 | journald | service | other | runs / s | journal MB/day |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for v in res["variants"]:
        c = [p["cpu_ms_per_start"] for p in v["per_round"] if p["cpu_ms_per_start"] is not None]
        span = f" ({min(c):.1f}–{max(c):.1f})" if len(c) > 1 else ""
        lines.append(f"| {v['name']} | {v['label']} | {fmt(v['exposure'])} | {fmt(v['cpu_ms_per_start'])}{span} | "
                     f"{fmt(v['pid1_ms'])} | {fmt(v['journald_ms'])} | {fmt(v['service_ms'])} | {fmt(v['other_ms'])} | "
                     f"{v['runs']} / {v['seconds']:.0f} | {fmt(v['journal_mb_per_day'])} |")
    by = {v["name"]: v for v in res["variants"]}
    if "shipped" in by and "before" in by and by["before"]["cpu_ms_per_start"]:
        s, b = by["shipped"], by["before"]
        lines += ["", f"**The shipped unit beside snap 0.1.0's, in this run:** {fmt(s['cpu_ms_per_start'])} ms against "
                  f"{fmt(b['cpu_ms_per_start'])} ms per snapshot ({s['cpu_ms_per_start'] / b['cpu_ms_per_start']:.0%}), "
                  f"exposure {fmt(s['exposure'])} against {fmt(b['exposure'])}, journal {fmt(s['journal_mb_per_day'])} "
                  f"against {fmt(b['journal_mb_per_day'])} MB a day."]
    # the frontier: each unit variant that costs less than every variant exposed as little or less
    units = sorted((v for v in res["variants"] if v["exposure"] is not None and v["cpu_ms_per_start"] is not None
                    and not v["name"].startswith("true-")),   # /bin/true takes no snapshot
                   key=lambda v: (v["exposure"], v["cpu_ms_per_start"]))
    front, best = [], None
    for v in units:
        if best is None or v["cpu_ms_per_start"] < best:
            front.append(v)
            best = v["cpu_ms_per_start"]
    lines += ["", "The frontier: the variants that take snapshots and that no other one beats on both exposure and CPU.", "",
              "| exposure | CPU ms/snapshot | variant |", "|---|---|---|"]
    lines += [f"| {fmt(v['exposure'])} | {fmt(v['cpu_ms_per_start'])} | {v['name']} |" for v in front]
    return "\n".join(lines) + "\n"

def cmd_journal(a):
    """Journal bytes of a window of the whole install (every unit), per day; entries per unit."""
    before = journal_files(a.journal_dir)
    time.sleep(a.seconds)
    added, raw, entries = journal_added(before, journal_files(a.journal_dir))
    day = 86400 / a.seconds
    print(json.dumps({"seconds": a.seconds, "bytes": added, "raw_growth": raw, "entries": entries,
                      "mb_per_day": round(added * day / 1e6, 2), "entries_per_day": round(entries * day)}))


def cmd_journal_doc(a):
    """The journal section of docs/PERFORMANCE.md from a `journal` result and the entries by unit."""
    r = json.load(open(a.result))
    units = [l.split() for l in open(a.entries) if l.strip()]
    day = 86400 / r["seconds"]
    md = (f"`scripts/vps-sim journal --minutes {r['seconds'] / 60:.0f}`, {time.strftime('%Y-%m-%d')}: the default install "
          f"(every unit and timer as shipped, snap once a second, seal and ship every 5 minutes) for {r['seconds'] / 60:.0f} "
          f"minutes. The journal files gained {r['bytes']:,} bytes in {r['entries']} entries: **{r['mb_per_day']} MB a day** "
          f"at this rate (budget: 25 MB).\n\n| unit | journal lines in the window | a day at this rate |\n|---|---|---|\n"
          + "".join(f"| orderbooks-{u} | {n} | {round(int(n) * day):,} |\n" for u, n in units))
    from perfdoc import write_section
    write_section("vps-sim journal", md)
    print(md)


def main():
    p = argparse.ArgumentParser()
    s = p.add_subparsers(dest="cmd", required=True)
    m = s.add_parser("measure")
    for k in ("--unified", "--journal-dir", "--spool", "--variant", "--service-cgroup", "--append"):
        m.add_argument(k)
    m.add_argument("--cpuacct", default="")
    m.add_argument("--leader", type=int, required=True); m.add_argument("--seconds", type=float, default=40)
    m.add_argument("--round", type=int, default=1)
    j = s.add_parser("journal"); j.add_argument("--journal-dir", required=True); j.add_argument("--seconds", type=float, required=True)
    jd = s.add_parser("journal-doc"); jd.add_argument("--result", required=True); jd.add_argument("--entries", required=True)
    e = s.add_parser("effects"); e.add_argument("shipped"); e.add_argument("variant"); e.add_argument("--volatile", nargs="*")
    r = s.add_parser("report")
    for k in ("--variants", "--rounds", "--out", "--meta", "--journal-storage"):
        r.add_argument(k, required=True)
    r.add_argument("--doc", action="store_true")
    a = p.parse_args()
    sys.exit({"measure": cmd_measure, "journal": cmd_journal, "journal-doc": cmd_journal_doc, "effects": cmd_effects, "report": cmd_report}[a.cmd](a) or 0)

if __name__ == "__main__":
    main()

"""What the benchmark scripts share: the loopback fake Polymarket and one measured child run."""
import json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_fake(state):
    """Tests/FakePolymarket on loopback (HTTP and HTTPS with its own CA); returns (process, endpoints)."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests/FakePolymarket/fake_polymarket.py"), "--state-dir", state],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, json.loads(proc.stdout.readline())


_RUSAGE = None


def _rusage():
    """scripts/lib/rusage.c, built once per process into a temporary directory."""
    global _RUSAGE
    if _RUSAGE is None:
        import tempfile
        _RUSAGE = os.path.join(tempfile.mkdtemp(prefix="orderbooks-rusage-"), "rusage")
        subprocess.run(["cc", "-O2", "-static", "-o", _RUSAGE, os.path.join(ROOT, "scripts/lib/rusage.c")], check=True)
    return _RUSAGE


def one_run(argv, env=None, stderr="/dev/null"):
    """Runs argv once, its output to /dev/null (stderr appended to `stderr`); returns (wall s, CPU s,
    peak RSS KiB, exit status).
    CPU and peak RSS are the child's own, from wait4(2) in scripts/lib/rusage.c, so neither this
    Python process nor a server the child talks to is counted."""
    read, write = os.pipe()
    pid = os.posix_spawn(_rusage(), [_rusage()] + argv, env or {"PATH": "/usr/bin:/bin"},
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, stderr, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
                                       (os.POSIX_SPAWN_DUP2, write, 3)])
    os.close(write)
    with os.fdopen(read) as f:
        line = f.read().split()
    os.waitpid(pid, 0)
    if len(line) != 4:
        raise RuntimeError(f"rusage gave nothing for {argv[0]}")
    return float(line[0]), float(line[1]), int(line[2]), int(line[3])


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

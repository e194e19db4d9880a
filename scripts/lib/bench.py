"""What the benchmark scripts share: the loopback fake Polymarket and one measured child run."""
import json, os, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_fake(state):
    """Tests/FakePolymarket on loopback (HTTP and HTTPS with its own CA); returns (process, endpoints)."""
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests/FakePolymarket/fake_polymarket.py"), "--state-dir", state],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, json.loads(proc.stdout.readline())


def one_run(argv, env=None):
    """Runs argv once, its output to /dev/null; returns (wall s, CPU s, peak RSS KiB, exit status).
    CPU and peak RSS come from wait4(2), so only this child (and what it waited for) counts."""
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env or {"PATH": "/usr/bin:/bin"},
                         file_actions=[(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_WRONLY, 0) for fd in (1, 2)])
    _, status, usage = os.wait4(pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, os.waitstatus_to_exitcode(status)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

"""A resident Python collector built on py-clob-client-v2: it imports the client and opens its
connections once, then takes a snapshot (the same work as one `snap` run, collect.py) at each whole
second, its discovery cache in memory. Set SSL_CERT_FILE to the trust store.

For scripts/bench-peers it prints JSON lines on stdout: {"ready": …} once its clients exist, with
the CPU (getrusage) spent so far, then one per snapshot with the CPU and wall time of that
snapshot alone, measured around it (sleeping and reporting not counted), and the CPU so far.

    python loop.py --data-dir DIR [--clob-url URL] [--gamma-url URL] [--series …] [--ticks N]
"""
import json
import resource
import time

import collect


def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = collect.parser(__doc__)
    parser.add_argument("--ticks", type=int, default=0, help="snapshots to take, then exit (0: for ever)")
    args = parser.parse_args()

    snapshotter = collect.Snapshotter(args.data_dir, args.clob_url, args.gamma_url, args.series.split(","),
                                      args.discovery_ttl, args.collector_id)
    cache = {}
    print(json.dumps({"ready": True, "cpu_s": cpu()}), flush=True)
    tick = 0
    while args.ticks == 0 or tick < args.ticks:
        time.sleep(1 - time.time() % 1)  # each whole second, as the timer starts snap
        cpu0, wall0 = cpu(), time.perf_counter()
        status = snapshotter.take(cache)
        wall, spent = time.perf_counter() - wall0, cpu() - cpu0
        tick += 1
        print(json.dumps({"tick": tick, "status": status, "cpu_s": spent, "wall_s": wall, "cpu_total_s": cpu(),
                          "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), flush=True)


if __name__ == "__main__":
    main()

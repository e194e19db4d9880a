"""A one-shot Python collector built on py-clob-client-v2: one run takes one snapshot, as one `snap`
run does (collect.py), with its discovery cache in a file like snap's, so cron or a timer can
start it every second. scripts/bench-peers measures it; set SSL_CERT_FILE to the trust store.

    python oneshot.py --data-dir DIR [--clob-url URL] [--gamma-url URL] [--series 5m,15m,...]
"""
import json
import os
import sys

import collect


def main():
    parser = collect.parser(__doc__)
    args = parser.parse_args()

    path = os.path.join(args.data_dir, "cache", "discovery.json")
    os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
    try:
        with open(path) as f:
            cache = json.load(f)
    except (OSError, ValueError):  # a lost or damaged cache costs one round of Gamma requests
        cache = {}
    before = json.dumps(cache, sort_keys=True)
    snapshotter = collect.Snapshotter(args.data_dir, args.clob_url, args.gamma_url, args.series.split(","),
                                      args.discovery_ttl, args.collector_id)
    status = snapshotter.take(cache)
    after = json.dumps(cache, sort_keys=True)
    if after != before:  # saved only when Gamma was asked, as snap does
        collect.replace(after.encode(), path, snapshotter.tmp)
    sys.exit(status)


if __name__ == "__main__":
    main()

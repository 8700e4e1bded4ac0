#!/usr/bin/env python3
"""Latency of `anycost studio` as a client sees it: per preview configuration (channel ratio x resolution) the
median server-side render time and the median HTTP round trip of POST /preview (render + PNG + base64 +
JSON), then the round trip of POST /finalize (preview + full render + difference image) and of a budget preview.

Usage: benchmarks/studio/studio_latency.py --anycost build/examples/anycost [--runs 30] [--threads 2]
       [--model FILE] (default: the shipped model)
Starts `anycost studio --port 0` itself and stops it at the end. Standard library only.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.request


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={'Content-Type': 'application/json'})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        payload = json.loads(r.read())
    return payload, (time.perf_counter() - t0) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--anycost', required=True)
    ap.add_argument('--model')
    ap.add_argument('--runs', type=int, default=30)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    cmd = [args.anycost, 'studio', '--port', '0', '--threads', str(args.threads), '--workers', '1']
    if args.model:
        cmd += ['--model', args.model]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = None
        for line in server.stdout:
            m = re.search(r'(http://127\.0\.0\.1:\d+/)', line)
            if m:
                base = m.group(1)
                break
        if not base:
            sys.exit('the studio did not print its URL')
        info, _ = call(base + 'api/info')
        sid = call(base + 'api/session', {})[0]['session']
        api = f'{base}api/session/{sid}/'
        call(api + 'seed', {'seed': 1})
        print(f"anycost studio latency, model {info['model']} ({info['resolution']}x{info['resolution']}), "
              f"1 worker x {args.threads} threads, median of {args.runs} runs")
        print(f"{'config':>22} {'MACs':>9} {'render ms':>10} {'round trip ms':>14}")
        seq = 0
        for ratio in info['ratios']:
            for res in info['resolutions']:
                renders, trips = [], []
                for i in range(args.runs + 2):
                    seq += 1
                    p, ms = call(api + 'preview', {'seq': seq, 'ratio': ratio, 'resolution': res,
                                                   'edits': {}})
                    if i >= 2:  # the first two warm up
                        renders.append(p['ms'])
                        trips.append(ms)
                print(f"{f'ratio {ratio} @ {res}':>22} {p['macs'] / 1e6:>8.1f}M {statistics.median(renders):>10.2f} "
                      f"{statistics.median(trips):>14.2f}")
        trips = [call(api + 'finalize', {'ratio': 0.25, 'resolution': info['resolution']})[1]
                 for _ in range(args.runs)]
        print(f"finalize (ratio 0.25 preview + full + difference): round trip {statistics.median(trips):.2f} ms")
        for budget in (2, 5, 10):
            seq += 1
            p, ms = call(api + 'preview', {'seq': seq, 'budget_ms': budget})
            print(f"budget {budget} ms: {p['config']['describe']} predicted {p['config']['predicted_ms']:.2f} ms, "
                  f"rendered in {p['ms']:.2f} ms")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == '__main__':
    main()

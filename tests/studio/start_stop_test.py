#!/usr/bin/env python3
"""Starts `anycost studio --port 0 ARGS...`, waits for its URL, checks GET /api/info (the number of directions,
and --expect TEXT in the output when given), then stops it with SIGINT and checks that it exits 0 after
printing "stopping". Standard library only.

Usage: start_stop_test.py ANYCOST N_DIRECTIONS [--expect TEXT] -- [studio args...]
"""
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request


def main():
    anycost, n_dirs = sys.argv[1], int(sys.argv[2])
    rest = sys.argv[3:]
    expect = None
    if rest[:1] == ['--expect']:
        expect, rest = rest[1], rest[2:]
    if rest[:1] == ['--']:
        rest = rest[1:]
    proc = subprocess.Popen([anycost, 'studio', '--port', '0', '--threads', '1'] + rest, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in proc.stdout] + [lines.put(None)], daemon=True).start()
    output, url = [], None
    try:
        while url is None:
            line = lines.get(timeout=300)
            if line is None:
                sys.exit('FAIL: the studio exited before serving:\n' + ''.join(output))
            output.append(line)
            print(line, end='')
            m = re.search(r'http://([0-9.]+|\[[0-9a-f:]+\]):(\d+)/', line)
            if m:
                url = f'http://127.0.0.1:{m.group(2)}/'
        with urllib.request.urlopen(url + 'api/info', timeout=60) as r:
            info = json.loads(r.read())
        names = [d['name'] for d in info['directions']]
        print(f'directions: {names}')
        if len(names) != n_dirs:
            sys.exit(f'FAIL: {len(names)} directions, expected {n_dirs}')
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        while True:
            line = lines.get(timeout=10)
            if line is None:
                break
            output.append(line)
            print(line, end='')
        text = ''.join(output)
        if code != 0 or 'stopping' not in text:
            sys.exit(f'FAIL: exit status {code} after SIGINT (expected 0 and "stopping")')
        if expect and expect not in text:
            sys.exit(f'FAIL: the output does not contain {expect!r}')
        print('PASS: studio started, answered and stopped on SIGINT')
    finally:
        if proc.poll() is None:
            proc.kill()


if __name__ == '__main__':
    main()

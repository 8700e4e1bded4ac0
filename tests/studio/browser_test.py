#!/usr/bin/env python3
"""Real-browser test of `anycost studio`: drives examples/studio/page.html in headless Chromium.

Usage:
  browser_test.py --anycost build/examples/anycost --out DIR [--model MODEL]   # starts the server itself
  browser_test.py --url http://127.0.0.1:8080/ --out DIR                        # targets a running server

Needs Debian's chromium, chromium-driver and python3-selenium (run with /usr/bin/python3).
Prints one line per check; exits non-zero with a message on the first failure. Screenshots
(page-seed.png, page-slider.png, page-finalize.png, page-upload.png) and the server's log go to --out.
"""
import argparse
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Failure(Exception):
    pass


def check(cond, what, detail=''):
    if not cond:
        raise Failure(f'{what}{": " + detail if detail else ""}')
    print(f'ok   {what}{" (" + detail + ")" if detail else ""}', flush=True)


# ---------- the server ----------
def start_server(args):
    cmd = [args.anycost, 'studio', '--port', '0', '--threads', '1']
    if args.model:
        cmd += ['--model', args.model]
    cmd += args.server_arg
    log = open(os.path.join(args.out, 'server.log'), 'w')
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = queue.Queue()

    def drain():  # keeps reading so that the pipe never fills
        for line in proc.stdout:
            log.write(line)
            log.flush()
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.time() + args.start_timeout
    seen = []
    while time.time() < deadline:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.time()))
        except queue.Empty:
            break
        if line is None:
            raise Failure(f'server exited ({proc.wait()}) before listening: {"".join(seen)[-2000:]}')
        seen.append(line)
        m = re.search(r'http://127\.0\.0\.1:(\d+)/', line)
        if m:
            return proc, f'http://127.0.0.1:{m.group(1)}/'
    proc.kill()
    raise Failure(f'server printed no http://127.0.0.1:<port>/ line in {args.start_timeout} s: {"".join(seen)[-2000:]}')


# ---------- the browser ----------
def start_browser(out):
    opts = webdriver.ChromeOptions()
    opts.binary_location = '/usr/bin/chromium'
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--window-size=1400,1000', '--disable-dev-shm-usage'):
        opts.add_argument(a)
    opts.add_experimental_option('prefs', {
        'download.default_directory': out,
        'download.prompt_for_download': False,
        'download.directory_upgrade': True,
        'safebrowsing.enabled': True,
    })
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=opts)
    try:
        driver.execute_cdp_cmd('Browser.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': out})
    except WebDriverException:
        pass  # the prefs above are enough on most versions
    return driver


# mean |a - b| over RGB in 0..255 after drawing both images into a size x size canvas
JS_MAD = '''
const [a, b, size, done] = arguments;
const load = async src => { const im = new Image(); im.src = src; await im.decode(); return im; };
const pixels = im => { const c = document.createElement('canvas'); c.width = c.height = size;
  const g = c.getContext('2d'); g.drawImage(im, 0, 0, size, size); return g.getImageData(0, 0, size, size).data; };
Promise.all([load(a), load(b)]).then(([x, y]) => {
  const p = pixels(x), q = pixels(y); let s = 0, n = 0;
  for (let i = 0; i < p.length; i += 4) for (let k = 0; k < 3; k++) { s += Math.abs(p[i + k] - q[i + k]); n++; }
  done({mad: s / n});
}).catch(e => done({error: String(e)}));
'''

# natural size and mean RGB value of one image
JS_STATS = '''
const [src, done] = arguments;
const im = new Image(); im.src = src;
im.decode().then(() => {
  const c = document.createElement('canvas'); c.width = im.naturalWidth; c.height = im.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(im, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2];
  done({w: im.naturalWidth, h: im.naturalHeight, mean: s / (d.length / 4 * 3)});
}).catch(e => done({error: String(e)}));
'''

# moves a slider: input events at each value, then change
JS_SLIDE = '''
const [id, values, gap, done] = arguments;
const el = document.getElementById(id);
(async () => {
  for (const v of values) {
    el.value = v; el.dispatchEvent(new Event('input', {bubbles: true}));
    await new Promise(r => setTimeout(r, gap));
  }
  el.dispatchEvent(new Event('change', {bubbles: true}));
  done(el.value);
})();
'''

# a 2 s drag with an input event every ~16 ms; counts the previews displayed and the most
# preview requests ever in flight at once (fetch is wrapped for the duration)
JS_DRAG = '''
const [id, lo, hi, ms, done] = arguments;
const el = document.getElementById(id);
let inflight = 0, maxInflight = 0, sent = 0;
const realFetch = window.fetch;
window.fetch = async (url, init) => {
  const isPreview = String(url).endsWith('/preview');
  if (isPreview) { inflight++; sent++; maxInflight = Math.max(maxInflight, inflight); }
  try { return await realFetch(url, init); } finally { if (isPreview) inflight--; }
};
const before = Number(document.body.dataset.previews);
const t0 = performance.now();
let events = 0;
const timer = setInterval(() => {
  const t = performance.now() - t0;
  if (t >= ms) {
    clearInterval(timer);
    const shown = Number(document.body.dataset.previews) - before;
    el.dispatchEvent(new Event('change', {bubbles: true}));
    // let the last preview land before unwrapping fetch
    const settle = setInterval(() => {
      if (inflight === 0 && document.getElementById('preview-img').dataset.seq === document.body.dataset.requested) {
        clearInterval(settle); window.fetch = realFetch;
        done({shown, events, sent, maxInflight, seconds: t / 1000,
              total: Number(document.body.dataset.previews) - before});
      }
    }, 20);
    return;
  }
  const v = lo + (hi - lo) * (0.5 - 0.5 * Math.cos(2 * Math.PI * t / 1000));
  el.value = v.toFixed(1); el.dispatchEvent(new Event('input', {bubbles: true}));
  events++;
}, 16);
'''


class Page:
    def __init__(self, driver, out):
        self.d, self.out = driver, out

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def js_async(self, script, *args):
        r = self.d.execute_async_script(script, *args)
        if isinstance(r, dict) and 'error' in r:
            raise Failure(f'in-page script failed: {r["error"]}')
        return r

    def el(self, id_):
        return self.d.find_element(By.ID, id_)

    def src(self, id_):
        return self.el(id_).get_attribute('src') or ''

    def status(self):
        try:
            return self.el('status').text
        except WebDriverException:
            return '?'

    def wait(self, cond, what, timeout=30):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.05,
                                 ignored_exceptions=[StaleElementReferenceException]).until(lambda _: cond())
        except TimeoutException:
            raise Failure(f'timed out after {timeout} s waiting for {what}; status line: "{self.status()}"')

    def mad(self, a, b, size=64):
        return self.js_async(JS_MAD, a, b, size)['mad']

    def stats(self, src):
        return self.js_async(JS_STATS, src)

    def previews(self):
        return int(self.js('return document.body.dataset.previews'))

    def settled(self):
        # the newest requested preview is on screen and nothing is in flight
        return self.js('''const r = document.body.dataset.requested;
            return r !== '0' && document.getElementById('preview-img').dataset.seq === r;''')

    def wait_preview(self, what, timeout=30):
        self.wait(self.settled, what, timeout)

    def state_info(self):
        return self.el('state-info').text

    def shot(self, name):
        self.d.save_screenshot(os.path.join(self.out, name))


def run(p, args):
    d = p.d
    p.d.get(args.url)
    p.wait(lambda: p.js('return document.body.dataset.ready') == '1', 'the page to load (info, session, gallery)')
    info = p.js_async('fetch("/api/info").then(r => r.json()).then(arguments[0])')
    dirs = [x['name'] for x in info['directions']]
    check(len(d.find_elements(By.CSS_SELECTOR, '#gallery img')) == 8, 'gallery shows 8 samples')
    check(all(d.find_elements(By.ID, f'slider-{n}') for n in dirs), 'one slider per direction', ', '.join(dirs))
    check(not p.el('undo').is_enabled() and not p.el('redo').is_enabled(), 'undo/redo disabled on a new session')

    # --- seed: typed, then a gallery click ---
    seed_box = p.el('seed-input')
    seed_box.clear()
    seed_box.send_keys('7', Keys.ENTER)
    p.wait(lambda: 'seed 7' in p.state_info(), 'the typed seed 7 to become the state')
    p.wait_preview('a preview of seed 7')
    seed7 = p.src('preview-img')
    check(seed7.startswith('data:image/png'), 'typed seed shows a preview', f'data-seq {p.el("preview-img").get_attribute("data-seq")}')
    thumb = d.find_elements(By.CSS_SELECTOR, '#gallery img')[2]
    gseed = thumb.get_attribute('data-seed')
    thumb.click()
    p.wait(lambda: f'seed {gseed}' in p.state_info(), f'the clicked gallery seed {gseed} to become the state')
    p.wait_preview(f'a preview of seed {gseed}')
    seed_img = p.src('preview-img')
    check(p.mad(seed7, seed_img) > args.min_change, 'gallery click changes the preview', f'seed {gseed}')
    check('selected' in (thumb.get_attribute('class') or ''), 'clicked thumbnail is marked selected')
    check(p.el('undo').is_enabled(), 'undo enabled after two seeds')
    p.shot('page-seed.png')

    # --- slider: several input events, then change ---
    name = dirs[0]
    lo, hi = info['directions'][0]['min'], info['directions'][0]['max']
    target = round(hi * args.slider_fraction, 1)
    steps = [round(target * k / 6, 1) for k in range(1, 7)]
    before_previews = p.previews()
    pos_before = p.js('return document.getElementById("state-info").textContent')
    p.js_async(JS_SLIDE, f'slider-{name}', [str(v) for v in steps], 60)
    p.wait(lambda: p.state_info() != pos_before, 'the slider commit to add an undo step')
    p.wait_preview('the preview after the slider')
    slider_img = p.src('preview-img')
    shown = p.previews() - before_previews
    check(shown >= 1, f'slider {name} -> {target} displayed previews', f'{shown} for {len(steps)} input events')
    diff = p.mad(seed_img, slider_img)
    check(diff > args.min_change, f'slider {name} changes the image', f'mean abs diff {diff:.2f}/255')
    check(p.el(f'value-{name}').text == f'{target:.1f}', 'slider value shown', p.el(f'value-{name}').text)
    info_text = p.el('preview-info').text
    check(re.search(r'ms', info_text) and re.search(r'\d[KMGT]? MACs', info_text), 'preview info shows ms and MACs', info_text)
    p.shot('page-slider.png')

    # --- finalize ---
    p.el('finalize').click()
    p.wait(lambda: p.el('diff-info').text.startswith('difference') and 'PSNR' in p.el('diff-info').text
           and p.src('final-img').startswith('data:'), 'the finalize result')
    final, fprev, dimg = p.src('final-img'), p.src('final-preview-img'), p.src('diff-img')
    fs = p.stats(final)
    fd = p.mad(final, fprev, fs['w'])
    check(fd < args.max_final_diff, 'final and preview are similar', f'mean abs diff {fd:.2f}/255 at {fs["w"]}x{fs["h"]}')
    check(fd > 0.01, 'final and preview are different renders', f'{fd:.3f}/255')
    ds = p.stats(dimg)
    check(ds['w'] > 0 and ds['mean'] > 0, 'diff image is non-empty', f'{ds["w"]}x{ds["h"]}, mean {ds["mean"]:.2f}')
    print(f'     {p.el("final-preview-info").text} | {p.el("final-info").text} | {p.el("diff-info").text}')
    p.shot('page-finalize.png')

    # --- the download link serves a PNG ---
    dl = p.js_async('''fetch(document.getElementById('download').href)
        .then(async r => arguments[0]({status: r.status, type: r.headers.get('Content-Type'), size: (await r.arrayBuffer()).byteLength}))
        .catch(e => arguments[0]({error: String(e)}))''')
    check(dl['status'] == 200 and (dl['type'] or '').startswith('image/png') and dl['size'] > 0, 'download link serves a PNG',
          f'{dl["size"]} bytes')

    # --- a server error reaches the status line: upload something that is not an image ---
    bad = os.path.join(args.out, 'not-an-image.txt')
    with open(bad, 'w') as f:
        f.write('this is not an image\n')
    p.el('upload-input').send_keys(bad)
    p.wait(lambda: p.el('status').get_attribute('class') == 'error', 'the upload error in the status line', 15)
    check(True, 'a rejected upload shows the server error', p.status())

    # --- upload and projection ---
    upload = os.path.abspath(args.upload)
    p.js('const s = document.getElementById("status"); s.textContent = ""; s.className = "";')
    p.el('upload-input').send_keys(upload)
    t0 = time.time()
    p.wait(lambda: p.el('progress-info').get_attribute('data-done') or p.el('status').get_attribute('class') == 'error',
           'the projection to finish', args.projection_timeout)
    check(p.el('progress-info').get_attribute('data-done'), 'projection finished', f'{time.time() - t0:.1f} s; {p.el("progress-info").text}; status "{p.status()}"')
    p.wait(lambda: 'upload' in p.state_info(), 'the state to become the upload')
    p.wait_preview('the preview of the projection')
    tgt, proj = p.src('projection-target-img'), p.src('projection-img')
    ts = p.stats(tgt)
    d_proj, d_seed = p.mad(proj, tgt, ts['w']), p.mad(seed_img, tgt, ts['w'])
    check(d_proj < d_seed, 'projection is closer to the target than the seed image',
          f'{d_proj:.2f} vs {d_seed:.2f} /255 at {ts["w"]}x{ts["h"]}')
    check(int(p.el('progress').get_attribute('value')) == int(p.el('progress').get_attribute('max')), 'progress bar full')
    check(p.mad(p.src('preview-img'), slider_img) > args.min_change, 'preview refreshed after the projection')
    p.shot('page-upload.png')

    # --- undo goes back to the slider state ---
    p.el('undo').click()
    p.wait(lambda: f'seed {gseed}' in p.state_info(), 'undo to return to the seed state')
    p.wait_preview('the preview after undo')
    back = p.mad(p.src('preview-img'), slider_img)
    check(back < args.same_render, 'undo restores the earlier image', f'mean abs diff {back:.3f}/255')
    check(p.el(f'slider-{name}').get_attribute('value') == f'{target:g}' or
          abs(float(p.el(f'slider-{name}').get_attribute('value')) - target) < 1e-6, 'undo restores the slider',
          p.el(f'slider-{name}').get_attribute('value'))
    check(p.el('redo').is_enabled(), 'redo enabled after undo')

    # --- save history (a Blob download), reset, load it back ---
    path = os.path.join(args.out, 'anycost-history.json')
    if os.path.exists(path):
        os.remove(path)
    p.el('save-history').click()
    p.wait(lambda: os.path.exists(path) and not os.path.exists(path + '.crdownload'), 'the history download', 15)
    time.sleep(0.2)
    with open(path) as f:
        hist = json.load(f)
    check(hist.get('format') == 'anycost-studio-history' and len(hist.get('entries', [])) >= 3,
          'saved history parses and has entries', f'{len(hist.get("entries", []))} entries, position {hist.get("position")}')
    p.el('reset').click()
    p.wait(lambda: float(p.el(f'slider-{name}').get_attribute('value')) == 0, 'reset to zero the slider')
    p.el('load-history-input').send_keys(path)
    p.wait(lambda: abs(float(p.el(f'slider-{name}').get_attribute('value')) - target) < 1e-6,
           'the loaded history to restore the slider')
    p.wait_preview('the preview after loading the history')
    back = p.mad(p.src('preview-img'), slider_img)
    check(back < args.same_render, 'loaded history restores the image', f'mean abs diff {back:.3f}/255')

    # --- latency budget mode ---
    p.el('mode-budget').click()
    p.wait_preview('a preview in budget mode')
    check('predicted' in p.el('preview-info').text, 'budget mode preview', p.el('preview-info').text)
    p.el('mode-config').click()
    p.wait_preview('a preview back in width mode')

    # --- a scripted 2 s drag ---
    r = p.js_async(JS_DRAG, f'slider-{name}', lo * 0.5, hi * 0.5, 2000)
    rate = r['shown'] / r['seconds']
    print(f'previews per second: {rate:.1f}', flush=True)
    check(r['shown'] >= 1, 'drag displayed previews',
          f'{r["shown"]} in {r["seconds"]:.2f} s for {r["events"]} input events, {r["sent"]} requests')
    check(r['maxInflight'] == 1, 'never more than one preview request in flight', f'max {r["maxInflight"]}')
    check(p.el('status').get_attribute('class') != 'error', 'no error in the status line', p.status())

    # --- gallery "More" shows the next 8 seeds ---
    p.el('gallery-more').click()
    p.wait(lambda: [e.get_attribute('data-seed') for e in d.find_elements(By.CSS_SELECTOR, '#gallery img')]
           == [str(s) for s in range(8, 16)], 'the next 8 gallery seeds')
    check(True, '"More" shows seeds 8..15')

    # --- an unknown (expired) session is replaced by a new one ---
    old = p.js('return session')
    p.js('session = "0".repeat(32)')
    p.el('seed-random').click()
    p.wait(lambda: p.js('return session') not in ('0' * 32, old) and re.search(r'seed \d+', p.state_info()),
           'a new session after "unknown session"')
    p.wait_preview('a preview in the new session')
    check(not p.el('undo').is_enabled(), 'an unknown session is replaced by a new one', p.state_info())

    # --- no script errors or CSP violations (4xx answers are logged as failed loads: expected above) ---
    logs = d.get_log('browser')
    with open(os.path.join(args.out, 'browser-console.log'), 'w') as f:
        for e in logs:
            f.write(f'{e["level"]} {e["message"]}\n')
    bad = [e['message'] for e in logs if e['level'] == 'SEVERE' and 'Failed to load resource' not in e['message']]
    check(not bad, 'no errors in the browser console', '; '.join(bad)[:500])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--anycost', help='the anycost binary (starts `anycost studio --port 0 --threads 1`)')
    ap.add_argument('--url', help='an already-running studio server instead of --anycost')
    ap.add_argument('--out', required=True, help='folder for screenshots, downloads and the server log')
    ap.add_argument('--model', help='passed to the server as --model')
    ap.add_argument('--server-arg', action='append', default=[], help='extra argument for the server (repeatable)')
    ap.add_argument('--upload', default=os.path.join(REPO, 'tests/data/resize/pipeline_45x30.png'))
    ap.add_argument('--start-timeout', type=float, default=60)
    ap.add_argument('--projection-timeout', type=float, default=120)
    ap.add_argument('--min-change', type=float, default=1.0, help='mean abs pixel diff (0..255) that counts as a change')
    ap.add_argument('--max-final-diff', type=float, default=40.0, help='largest mean abs diff final vs preview')
    ap.add_argument('--same-render', type=float, default=1.0, help='largest mean abs diff for the same render')
    ap.add_argument('--slider-fraction', type=float, default=0.6, help='move the first slider to this fraction of its max')
    args = ap.parse_args()
    sys.stdout.reconfigure(errors='backslashreplace')  # page text (\u00b7, \u00d7) under an ASCII locale
    sys.stderr.reconfigure(errors='backslashreplace')
    if bool(args.anycost) == bool(args.url):
        ap.error('give exactly one of --anycost and --url')
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)

    server = driver = None
    code = 0
    try:
        if args.anycost:
            server, args.url = start_server(args)
        print(f'server: {args.url}', flush=True)
        driver = start_browser(args.out)
        run(Page(driver, args.out), args)
        print('PASS: studio browser test', flush=True)
    except Failure as e:
        print(f'FAIL: {e}', file=sys.stderr, flush=True)
        code = 1
    except WebDriverException as e:
        print(f'FAIL: browser: {e.msg or e}', file=sys.stderr, flush=True)
        code = 1
    finally:
        if driver:
            if code:
                try:
                    driver.save_screenshot(os.path.join(args.out, 'page-failure.png'))
                    with open(os.path.join(args.out, 'browser-console.log'), 'w') as f:
                        for entry in driver.get_log('browser'):
                            f.write(f'{entry["level"]} {entry["message"]}\n')
                    print(f'     see {args.out}/page-failure.png and browser-console.log', file=sys.stderr)
                except WebDriverException:
                    pass
            driver.quit()
        if server:
            server.kill()
            server.wait()
    return code


if __name__ == '__main__':
    sys.exit(main())

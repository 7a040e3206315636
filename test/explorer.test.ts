/*
 * The explorer in real Chromium (Debian's chromium, driven by
 * playwright-core), loaded from `uvm explore` as a person would: every
 * bundled scenario stepped through, its Counters region equal after each
 * step to `uvm run --json`; Back, the keyboard, the alert of a bad line,
 * an entry picked down to its frames, the frames' states, a recording
 * opened, the page working on after the server stopped; a screenshot
 * (UPDATE_SCREENSHOT=1 writes docs/explorer.png).
 *
 * A missing browser is a failure (CI installs chromium), not a skip.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/uvm.js');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const SCENARIOS = readdirSync(join(ROOT, 'scenarios'))
  .filter((f) => f.endsWith('.uvm'))
  .map((f) => f.slice(0, -4))
  .sort();

interface Step {
  line: number;
  counters: Record<string, number>;
}

/** runJson: the steps of `uvm run NAME --json`. */
function runJson(name: string): Step[] {
  const r = spawnSync(process.execPath, [BIN, 'run', name, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).steps;
}

/** serve: `uvm explore --port 0` => the server and its URL. */
async function serve(): Promise<{ server: ChildProcess; url: string }> {
  const server = spawn(process.execPath, [BIN, 'explore', '--port', '0'], { cwd: ROOT });
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout!.once('data', (d) => resolve(String(d).trim()));
    server.once('exit', (code) => reject(new Error(`uvm explore exited ${code}`)));
  });
  return { server, url };
}

/** counters: the Counters region's table, name -> value. */
function counters(page: Page): Promise<Record<string, number>> {
  return page.getByRole('region', { name: 'Counters' }).evaluate((region) => {
    const out: Record<string, number> = {};
    for (const tr of region.querySelectorAll('tbody tr')) {
      const [name, value] = [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '');
      out[name] = Number(value);
    }
    return out;
  });
}

async function choose(page: Page, name: string): Promise<void> {
  await page.getByRole('combobox', { name: 'Scenario', exact: true }).selectOption(name);
}

describe('the explorer in Chromium', () => {
  let browser: Browser;
  let server: ChildProcess;
  let url: string;
  let page: Page;

  before(async () => {
    assert.ok(CHROMIUM, 'no chromium: apt-get install -y chromium (the browser tests need it)');
    ({ server, url } = await serve());
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    assert.deepEqual(errors, []);
  });

  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
  });

  it('lists every bundled scenario and starts with no command run', async () => {
    const select = page.getByRole('combobox', { name: 'Scenario', exact: true });
    const names = await select.locator('option').allTextContents();
    assert.deepEqual(names, SCENARIOS);
    await choose(page, 'needs-copy');
    assert.match(
      await page.getByRole('textbox', { name: 'Scenario source' }).inputValue(),
      /fork parent child/,
    );
    assert.match(await page.getByRole('region', { name: 'Step' }).innerText(), /No command/);
  });

  for (const name of SCENARIOS)
    it(`steps through ${name}: Step and Counters agree with uvm run --json after each step`, async () => {
      const steps = runJson(name);
      await choose(page, name);
      const region = page.getByRole('region', { name: 'Step' });
      for (const [i, s] of steps.entries()) {
        await page.getByRole('button', { name: 'Step', exact: true }).click();
        assert.match(await region.innerText(), new RegExp(`line ${s.line}:`), `step ${i + 1}`);
        assert.deepEqual(await counters(page), s.counters, `${name}: after step ${i + 1}`);
      }
      assert.equal(
        await page.getByRole('button', { name: 'Step', exact: true }).isDisabled(),
        true,
      );
    });

  it('Back undoes one command exactly; Reset goes before the first; Run to end', async () => {
    const steps = runJson('demo');
    await choose(page, 'demo');
    for (let i = 0; i < 20; i++)
      await page.getByRole('button', { name: 'Step', exact: true }).click();
    await page.getByRole('button', { name: 'Back' }).click();
    assert.deepEqual(await counters(page), steps[18].counters);
    await page.getByRole('button', { name: 'Step', exact: true }).click();
    assert.deepEqual(await counters(page), steps[19].counters);
    await page.getByRole('button', { name: 'Run to end' }).click();
    assert.deepEqual(await counters(page), steps[steps.length - 1].counters);
    await page.getByRole('button', { name: 'Reset' }).click();
    assert.match(await page.getByRole('region', { name: 'Step' }).innerText(), /No command/);
  });

  it('ArrowRight and ArrowLeft step, but not while typing in the editor', async () => {
    const steps = runJson('ppref');
    await choose(page, 'ppref');
    await page.getByRole('heading', { name: 'Counters' }).click();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    assert.deepEqual(await counters(page), steps[1].counters);
    await page.keyboard.press('ArrowLeft');
    assert.deepEqual(await counters(page), steps[0].counters);
    await page.getByRole('textbox', { name: 'Scenario source' }).focus();
    await page.keyboard.press('ArrowRight');
    assert.deepEqual(await counters(page), steps[0].counters);
  });

  it('a bad line shows an alert naming it; Load starts the edited source afresh', async () => {
    const source = page.getByRole('textbox', { name: 'Scenario source' });
    await source.fill('spawn a\nfly a away\n');
    await page.getByRole('button', { name: 'Load' }).click();
    assert.equal(await page.getByRole('alert').count(), 0);
    await page.getByRole('button', { name: 'Run to end' }).click();
    assert.equal(await page.getByRole('alert').innerText(), 'line 2: unknown command "fly"');
    await page.getByRole('button', { name: 'Back' }).click();
    assert.equal(await page.getByRole('alert').count(), 0);
    assert.match(await page.getByRole('region', { name: 'Step' }).innerText(), /line 1: spawn a/);
  });

  it('an entry picked with Enter shows its amap slots, anons and frames; shared anons marked', async () => {
    await choose(page, 'needs-copy');
    for (let i = 0; i < 12; i++)
      await page.getByRole('button', { name: 'Step', exact: true }).click();
    const procs = page.getByRole('region', { name: 'Processes' });
    assert.match(await procs.innerText(), /needs-copy/);
    const row = procs.getByRole('button', { name: /^7effffffc000-7f0000000000 rw-p/ }).last();
    await row.focus();
    await page.keyboard.press('Enter');
    const table = procs.getByRole('table', { name: 'entry -> amap slot -> anon -> frame' });
    assert.match(await table.innerText(), /an_ref/);
    assert.ok((await table.locator('tr.shared').count()) > 0, 'the anon both processes share');
    assert.match(await procs.innerText(), /ppref runs/);
  });

  it('Physical memory has one cell per frame, "frame N: STATE", as the counters count them', async () => {
    await choose(page, 'demo');
    await page.getByRole('button', { name: 'Run to end' }).click();
    const c = await counters(page);
    const mem = page.getByRole('region', { name: 'Physical memory' });
    const frames = mem.getByRole('listitem', { name: /^frame \d+: / });
    assert.equal(await frames.count(), c.npages);
    assert.equal(await mem.getByRole('listitem', { name: /^frame \d+: free$/ }).count(), c.free);
    assert.equal(
      await mem.getByRole('listitem', { name: /^frame \d+: active$/ }).count(),
      c.active,
    );
    const inactive = await mem.getByRole('listitem', { name: /^frame \d+: inactive$/ }).count();
    assert.equal(inactive, c.inactive);
    assert.ok((await mem.getByRole('listitem', { name: /^swap slot \d+: / }).count()) > 0);
  });

  it('opens a recording and steps it call by call', async () => {
    const log = join(ROOT, 'samples/memops.strace');
    const init = readdirSync(join(ROOT, 'samples/init'))
      .filter((f) => f.startsWith('memops.'))
      .map((f) => join(ROOT, 'samples/init', f));
    await page.getByLabel(/Open a recording/).setInputFiles([log, ...init]);
    await page.getByText(/of \d+ commands run/).waitFor();
    for (let i = 0; i < 5; i++)
      await page.getByRole('button', { name: 'Step', exact: true }).click();
    assert.match(await page.getByRole('region', { name: 'Step' }).innerText(), /line 5:/);
    assert.match(await page.getByRole('region', { name: 'Processes' }).innerText(), /pid \d+/);
    await page.getByRole('button', { name: 'Run to end' }).click();
    assert.match(await page.getByRole('region', { name: 'Step' }).innerText(), /0 mismatches/);
  });

  it('keeps working once the server stopped (uvm explore exits 0 on SIGTERM), and looks right', async () => {
    const exited = new Promise<number | null>((r) => server.once('exit', r));
    server.kill('SIGTERM');
    assert.equal(await exited, 0);
    await choose(page, 'demo');
    for (let i = 0; i < 30; i++)
      await page.getByRole('button', { name: 'Step', exact: true }).click();
    assert.match(await page.getByText(/commands run/).innerText(), /^30 of/);
    assert.ok((await page.getByRole('region', { name: 'Events' }).locator('li').count()) >= 0);
    const shot =
      process.env.UPDATE_SCREENSHOT === '1'
        ? join(ROOT, 'docs/explorer.png')
        : join(tmpdir(), 'uvm-explorer.png');
    await page
      .getByRole('button', { name: /^7effffff/ })
      .first()
      .click();
    await page.screenshot({ path: shot });
    assert.ok(statSync(shot).size > 10_000);
  });
});

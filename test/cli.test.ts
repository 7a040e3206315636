/*
 * The `uvm` command, run as a subprocess from the build (bin/uvm.js ->
 * dist/): exit statuses, outputs, golden files for the demo and the tables.
 *
 * Golden files live in test/golden/; after an intended change of output,
 * `npm run golden` rewrites them (review the diff before committing).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PD_POLICIES } from '../src/kernel/pdpolicy/index.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/uvm.js');
const GOLDEN = join(ROOT, 'test/golden');
const SAMPLES = join(ROOT, 'samples');

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function uvm(...args: string[]): Ran {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** golden: `text` must equal test/golden/NAME (UPDATE_GOLDEN=1 writes it). */
function golden(name: string, text: string): void {
  const file = join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
  assert.equal(text, readFileSync(file, 'utf8'), `output differs from ${file}`);
}

function has(tool: string, args: string[]): boolean {
  return spawnSync(tool, args, { stdio: 'ignore' }).error === undefined;
}

describe('uvm demo', () => {
  it('runs the bundled workload and prints what the golden file holds', () => {
    const r = uvm('demo');
    assert.equal(r.status, 0, r.stderr);
    golden('demo.txt', r.stdout);
    for (const part of ['/dev/zero (deleted)', 'cow,nc', 'pageouts', '(in swap)', 'an_ref'])
      assert.ok(r.stdout.includes(part), part);
  });

  it('--json gives the steps and counters', () => {
    const r = uvm('demo', '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.error, undefined);
    assert.equal(j.counters.forks, 2);
    assert.ok(j.counters.pageouts > 0 && j.counters.pageins > 0);
    type Step = { command: string; output?: string[]; data?: Record<string, unknown> };
    const steps: Step[] = j.steps;
    const entry = steps.find((s) => s.command === 'show entry child heap' && s.data);
    assert.ok(entry?.data, 'show entry gives fields');
    assert.equal(entry.output, undefined, 'not its text lines');
    const e = entry.data as { entry: { flags: string[] }; pages: { an_ref: number | null }[] };
    assert.ok(Array.isArray(e.entry.flags) && Array.isArray(e.pages));
    const maps = steps.find((s) => s.command.startsWith('show maps'))!;
    assert.ok(
      Array.isArray(maps.data) && typeof (maps.data as { start: number }[])[0].start === 'number',
    );
    assert.ok(steps.some((s) => s.command.startsWith('write') && Array.isArray(s.output)));
  });
});

describe('uvm run', () => {
  const scenarios = readdirSync(join(ROOT, 'scenarios')).filter((f) => f.endsWith('.uvm'));
  for (const f of scenarios)
    it(`runs scenarios/${f} to the end`, () => {
      const r = uvm('run', join('scenarios', f));
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.includes('$ '));
    });

  it('finds a bundled scenario by name; its amap table matches the golden file', () => {
    const r = uvm('run', 'ppref');
    assert.equal(r.status, 0, r.stderr);
    golden('ppref.txt', r.stdout);
  });

  it('stops at the failing line: FILE:LINE: what, exit 1, the steps before it printed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvm-cli-'));
    const file = join(dir, 'bad.uvm');
    writeFileSync(file, 'spawn a\nmmap a x 1p rw private,anon\n\nread a x 1 expect "z"\nspawn b\n');
    const r = uvm('run', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${file}:4: read: expected "z", got`));
    assert.ok(r.stdout.includes('$ mmap a x 1p'));
    assert.ok(!r.stdout.includes('spawn b'));
    writeFileSync(file, 'spawn a\nfly a away\n');
    const u = uvm('run', file, '--json');
    assert.equal(u.status, 1);
    assert.deepEqual(JSON.parse(u.stdout).error, {
      file,
      line: 2,
      what: 'unknown command "fly"',
    });
    rmSync(dir, { recursive: true });
  });
});

describe('uvm run --trace and the steps of --json', () => {
  it("--trace prints the kernel's events under each step", () => {
    const r = uvm('run', 'needs-copy', '--trace');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const write = lines.indexOf('$ write parent buf "parent data"');
    assert.ok(write >= 0);
    assert.match(lines[write + 1], /^ {4}\| fault pmap=1 va=0x[0-9a-f]+ access=-w- wire=false$/);
    const under = lines.slice(write + 1, lines.indexOf('$ show entry parent buf', write));
    assert.ok(under.some((l) => l.includes('fault-path') && l.includes('path=zero-fill')));
    assert.ok(r.stdout.includes('path=cow-promote'));
    assert.ok(r.stdout.includes('| amap-copy amap='));
    assert.ok(!uvm('run', 'needs-copy').stdout.includes('| fault'));
  });

  it('--json: every step carries the counters after it; with --trace its events', () => {
    const j = JSON.parse(uvm('run', 'needs-copy', '--json').stdout);
    type Step = { command: string; counters: Record<string, number>; events?: unknown[] };
    const steps: Step[] = j.steps;
    for (const s of steps) {
      assert.deepEqual(Object.keys(s.counters), Object.keys(j.counters), s.command);
      assert.equal(s.events, undefined);
    }
    assert.deepEqual(steps[steps.length - 1].counters, j.counters);
    const firstWrite = steps.findIndex((s) => s.command.startsWith('write'));
    assert.equal(steps[firstWrite - 1].counters.faults + 1, steps[firstWrite].counters.faults);
    const t = JSON.parse(uvm('run', 'needs-copy', '--json', '--trace').stdout);
    const write = (t.steps as Step[]).find((s) => s.command.startsWith('write'))!;
    assert.deepEqual(write.events?.[0], {
      type: 'fault',
      pmap: 1,
      va: 0x7effffffc000,
      access: 2,
      wire: false,
    });
  });
});

describe('uvm explore', () => {
  it('a bad --port is bad usage naming it, exit 2, no stack trace', () => {
    const r = uvm('explore', '--port', '70000');
    assert.equal(r.status, 2);
    assert.match(r.stderr.split('\n')[0], /'70000' is invalid\. 70000 is not a port/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

describe('uvm run --policy', () => {
  for (const policy of Object.keys(PD_POLICIES))
    it(`runs the demo under ${policy}: the daemon pages out and every audit holds`, () => {
      const r = uvm('demo', '--json', '--policy', policy);
      assert.equal(r.status, 0, r.stderr);
      const c = JSON.parse(r.stdout).counters;
      assert.ok(c.pdpageouts > 0 && c.pageins > 0, `${policy}: paged out and in`);
    });

  it('an unknown policy is bad usage naming the ones there are; a scenario naming another fails', () => {
    const r = uvm('run', 'demo', '--policy', 'belady');
    assert.equal(r.status, 2);
    assert.equal(
      r.stderr,
      `uvm: --policy: no policy belady (there are: ${Object.keys(PD_POLICIES).join(', ')})\n`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'uvm-cli-'));
    const file = join(dir, 'p.uvm');
    writeFileSync(file, 'system physPages=64 policy=clock\nspawn a\n');
    assert.equal(uvm('run', file, '--policy', 'clock').status, 0);
    writeFileSync(file, 'system physPages=64 policy=nru\nspawn a\n');
    const u = uvm('run', file);
    assert.equal(u.status, 1);
    assert.match(u.stderr, /p\.uvm:1: .*no such policy/);
    rmSync(dir, { recursive: true });
  });
});

describe('uvm replay', () => {
  const memops = join(SAMPLES, 'memops.strace');

  it('--check-maps: the replayed map equals the real one, exit 0', () => {
    const r = uvm('replay', memops, '--check-maps', join(SAMPLES, 'memops.maps'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /133 calls, 7 processes, 0 mismatched calls/);
    assert.match(r.stdout, /maps of 12768 match .*memops\.maps/);
    assert.match(r.stdout, /\/tmp\/tracecorpus\/memops\.dat +65536 +a stand-in/);
  });

  it('--check-maps against another dump lists the differences, exit 1', () => {
    const r = uvm(
      'replay',
      memops,
      '--check-maps',
      join(SAMPLES, 'init/memops.12768.maps'),
      '--pid',
      '12768',
    );
    assert.equal(r.status, 1);
    assert.match(r.stdout, /maps of 12768 differ from .*: \d+ rows/);
    assert.match(
      r.stdout,
      /^- 55d8aa093000-55d8aa095000 rw-p 00003000 \/tmp\/tracecorpus\/memops$/m,
    );
    assert.match(
      r.stdout,
      /^\+ 55d8aa094000-55d8aa095000 rw-p 00004000 \/tmp\/tracecorpus\/memops$/m,
    );
  });

  it('--maps PID prints the maps in /proc/PID/maps form', () => {
    const r = uvm('replay', join(SAMPLES, 'py_fork_mmap.strace'), '--maps', '12678');
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout.split('\n');
    const at = rows.indexOf('maps of 12678:');
    assert.ok(at > 0);
    assert.match(rows[at + 1], /^[0-9a-f]+-[0-9a-f]+ [r-][w-][x-][ps] [0-9a-f]{8} \S+ \d+ +\/usr/);
    assert.ok(rows.some((l) => l.endsWith('[heap]')));
    assert.ok(rows.some((l) => l.endsWith('/dev/zero (deleted)')));
  });

  it('--json gives the report', () => {
    const r = uvm('replay', memops, '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.calls, 133);
    assert.deepEqual(j.mismatches, []);
    assert.equal(j.processes.length, 7);
  });

  it('a truncated or unknown line is listed with its number and text, and the rest replayed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvm-cli-'));
    const file = join(dir, 'x.strace');
    writeFileSync(
      file,
      [
        '1 00:00:00.000001 brk(NULL) = 0x1000',
        'what is this',
        '1 00:00:00.000003 mmap(0x7f0000000000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0) = 0x7f0000000000',
        '1 00:00:00.000004 mprotect(0x7f0000000000, 4096, PROT_NO',
      ].join('\n'),
    );
    const r = uvm('replay', file, '--maps', '1');
    rmSync(dir, { recursive: true });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /lines not understood: 2/);
    assert.match(r.stdout, /line 2: not "PID TIME event": "what is this"/);
    assert.match(r.stdout, /line 4: malformed call: "mprotect\(0x7f0000000000, 4096, PROT_NO"/);
    assert.match(
      r.stdout,
      /^7f0000000000-7f0000001000 r--p /m,
      'the mmap after the bad line was replayed',
    );
  });

  it('an unknown pid for --maps is bad usage', () => {
    const r = uvm('replay', memops, '--maps', '4');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no process 4 in the trace/);
  });
});

describe('uvm --version', () => {
  it("prints the package's version", () => {
    const r = uvm('--version');
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), version);
  });
});

describe('uvm explain', () => {
  it('prints what the dump columns and counters mean, or one entry, or says nothing matches', () => {
    const all = uvm('explain');
    assert.equal(all.status, 0);
    assert.match(all.stdout, /an_ref +how many amap slots hold the anon/);
    assert.match(all.stdout, /flt_acow +copy-on-write faults/);
    const one = uvm('explain', 'swslot');
    assert.equal(one.stdout.split('\n').filter((l) => l.startsWith('    ')).length, 1);
    const none = uvm('explain', 'nosuchword');
    assert.equal(none.status, 2);
    assert.equal(none.stderr, 'uvm: explain: nothing is named like nosuchword\n');
  });
});

describe('uvm run: an empty file', () => {
  it('says so on one line and exits 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvm-empty-'));
    const file = join(dir, 'empty.uvm');
    writeFileSync(file, '# only a comment\n\n');
    const r = uvm('run', file);
    rmSync(dir, { recursive: true });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `uvm: ${file}: empty: no commands to run\n`);
  });
});

describe('uvm: usage', () => {
  it('exit 2 on bad usage, with a message', () => {
    const cases: [string[], RegExp][] = [
      [['bogus'], /unknown command 'bogus'/],
      [['run'], /missing required argument 'file'/],
      [['run', 'no/such/file.uvm'], /cannot read no\/such\/file\.uvm: ENOENT/],
      [['replay', 'samples/memops.strace', '--maps', 'abc'], /abc is not a process id/],
      [['replay', 'samples/memops.strace', '--pid', '1'], /--pid goes with --check-maps/],
      [['replay', 'samples/memops.strace', '--memory', '3'], /not a page count/],
      [['replay', 'nothing.strace'], /cannot read the trace nothing\.strace/],
      [['demo', '--fast'], /unknown option '--fast'/],
    ];
    for (const [args, message] of cases) {
      const r = uvm(...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  it('--help on every command, exit 0', () => {
    for (const cmd of [[], ['demo'], ['run'], ['replay'], ['record']]) {
      const r = uvm(...cmd, '--help');
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^Usage: uvm/);
    }
  });
});

describe('uvm record', () => {
  it('has strace and cc (a missing tool fails, never skips)', () => {
    assert.ok(has('strace', ['-V']), 'strace is missing');
    assert.ok(has('cc', ['--version']), 'cc is missing');
  });

  it('records a small program that replays to its real maps', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvm-record-'));
    const src = join(dir, 'prog.c');
    writeFileSync(
      src,
      [
        '#include <signal.h>',
        '#include <sys/mman.h>',
        '#include <unistd.h>',
        'int main(void) {',
        '  char *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);',
        '  mprotect(p + 4096, 8192, PROT_READ);',
        '  munmap(p + 65536, 4096);',
        '  if (fork() == 0) { munmap(p, 1 << 20); _exit(0); }',
        '  kill(getpid(), 0);',
        '  return 0;',
        '}',
      ].join('\n'),
    );
    assert.equal(spawnSync('cc', ['-O1', '-o', join(dir, 'prog'), src]).status, 0);
    const out = join(dir, 'rec');
    const r = uvm('record', '--out', out, '--mark', '--', join(dir, 'prog'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /1 snapshot/);
    const trace = readFileSync(join(out, 'prog.strace'), 'utf8');
    assert.match(trace, /execve\(".*\/prog"/);
    assert.match(trace, /--- stopped by SIGSTOP ---/);
    const init = readdirSync(join(out, 'init'));
    assert.equal(init.length, 1);
    const c = uvm('replay', join(out, 'prog.strace'), '--check-maps', join(out, 'prog.maps'));
    assert.equal(c.status, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /0 mismatched calls/);
    assert.match(c.stdout, /maps of \d+ match/);
    rmSync(dir, { recursive: true });
  });

  it('keeps one snapshot per execve of a pid that execs again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'uvm-record-'));
    const r = uvm(
      'record',
      '--out',
      dir,
      '--name',
      'twice',
      '--',
      '/bin/sh',
      '-c',
      'exec /bin/true',
    );
    assert.equal(r.status, 0, r.stderr);
    const init = readdirSync(join(dir, 'init')).sort();
    assert.equal(init.length, 2);
    assert.match(init[0], /^twice\.\d+\.exec2\.maps$/);
    assert.match(init[1], /^twice\.\d+\.maps$/);
    assert.match(readFileSync(join(dir, 'init', init[0]), 'utf8'), /\/(dash|bash|sh)\n/);
    assert.match(readFileSync(join(dir, 'init', init[1]), 'utf8'), /\/true\n/);
    const c = uvm('replay', join(dir, 'twice.strace'));
    assert.equal(c.status, 0, c.stdout + c.stderr);
    assert.match(c.stdout, /0 mismatched calls/);
    assert.match(c.stdout, /launch > sh > true/);
    rmSync(dir, { recursive: true });
  });

  it('names a program that does not exist', () => {
    const r = uvm('record', '--', '/no/such/program');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no program \/no\/such\/program/);
  });
});

describe('uvm record and replay: bad input is one line (issue 13)', () => {
  const scratch = () => mkdtempSync(join(tmpdir(), 'uvm-bad-'));
  const oneLine = (r: Ran, status: number, message: RegExp) => {
    assert.equal(r.status, status, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
  };

  it('record --out under /proc: one line, exit 2, no spinning', () => {
    const r = spawnSync(
      process.execPath,
      [BIN, 'record', '--out', '/proc/nope', '--', '/bin/true'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.equal(r.error, undefined, 'it ends');
    oneLine(r, 2, /^uvm: --out: cannot create \/proc\/nope: ENOENT$/m);
  });

  it('record --out naming a file, or --name with a slash: one line, exit 2', () => {
    const dir = scratch();
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    oneLine(
      uvm('record', '--out', file, '--', '/bin/true'),
      2,
      /^uvm: --out: .*\/f is not a directory$/m,
    );
    oneLine(
      uvm('record', '--out', dir, '--name', 'a/b', '--', '/bin/true'),
      2,
      /^uvm: --name "a\/b": a recording's name is a file name, without "\/"$/m,
    );
    oneLine(
      uvm('record', '--mem', '--mark', '--out', dir, '--', '/bin/true'),
      2,
      /^uvm: --mark goes with a recording under strace, not --mem$/m,
    );
    assert.deepEqual(readdirSync(dir).sort(), ['f'], 'nothing recorded');
    rmSync(dir, { recursive: true });
  });

  it('replay of an empty .strace: says so, exit 2', () => {
    const dir = scratch();
    const file = join(dir, 'empty.strace');
    writeFileSync(file, '\n');
    oneLine(
      uvm('replay', file),
      2,
      new RegExp(`^uvm: ${file}: empty: no strace lines to replay$`, 'm'),
    );
    rmSync(dir, { recursive: true });
  });

  it('replay with a garbage init snapshot: one line naming the file, exit 2', () => {
    const dir = scratch();
    mkdirSync(join(dir, 'init'));
    writeFileSync(
      join(dir, 'x.strace'),
      '5 00:00:00.000001 execve("/bin/true", [...], 0x1 /* 1 var */) = 0\n',
    );
    writeFileSync(join(dir, 'init', 'x.5.maps'), 'this is not\na maps file\n');
    oneLine(
      uvm('replay', join(dir, 'x.strace')),
      2,
      /^uvm: .*\/init\/x\.5\.maps: not a maps file \(an init snapshot\): line 1 is not a \/proc\/PID\/maps row: "this is not"$/m,
    );
    writeFileSync(join(dir, 'init', 'x.5.maps'), '');
    const empty = uvm('replay', join(dir, 'x.strace'));
    assert.equal(empty.status, 0, empty.stderr);
    assert.match(
      empty.stdout,
      /snapshots missing or empty: 1\n {2}line 1: .*init\/x\.5\.maps is empty .*: pid 5 starts empty/,
    );
    rmSync(dir, { recursive: true });
  });

  it('--check-maps of a file that is not maps rows: "not a maps file", exit 2', () => {
    oneLine(
      uvm('replay', join(SAMPLES, 'memops.strace'), '--check-maps', join(SAMPLES, 'memops.strace')),
      2,
      /^uvm: .*memops\.strace: not a maps file \(the maps to check\): line 1 is not a \/proc\/PID\/maps row/m,
    );
  });

  it('--check-maps alone compares the recorded final maps; with none, one line, exit 2', () => {
    const all = uvm('replay', join(SAMPLES, 'memops.strace'), '--check-maps');
    assert.equal(all.status, 0, all.stderr);
    assert.match(all.stdout, /^maps of 12768 match .*samples\/memops\.maps /m);
    const dir = scratch();
    writeFileSync(join(dir, 'm.strace'), readFileSync(join(SAMPLES, 'memops.strace')));
    oneLine(
      uvm('replay', join(dir, 'm.strace'), '--check-maps'),
      2,
      /^uvm: no recorded final maps beside .*m\.strace \(exit\/m\.PID\.maps or m\.maps\)$/m,
    );
    rmSync(dir, { recursive: true });
  });
});

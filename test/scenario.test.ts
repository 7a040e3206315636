/*
 * The scenario language's commands and helpers that the fuzzer's scenario
 * files use (docs/scenarios.md): data of several parts, files of given
 * contents, a second open, injected I/O errors, exec, rlimit, mapscheck,
 * close, and how kernel panics and livelocks end a run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryHost } from '../src/kernel/host.ts';
import { KernelPanic } from '../src/kernel/param.ts';
import { VmSystem } from '../src/sys/system.ts';
import {
  closeSystem,
  formatData,
  guardReclaim,
  Livelock,
  ScenarioError,
  ScenarioRunner,
  tokenize,
} from '../src/tools/scenario.ts';

function run(text: string): ScenarioRunner {
  const r = new ScenarioRunner('t.uvm');
  r.run(text);
  return r;
}

/** fails: the scenario stops with FILE:LINE: what, `what` matching `re`. */
function fails(text: string, re: RegExp): void {
  assert.throws(
    () => run(text),
    (e: unknown) => e instanceof ScenarioError && re.test(e.message),
  );
}

const lines = (...l: string[]) => l.join('\n');

describe('scenario: system', () => {
  it('policy=, freemin= and freetarg= configure the kernel; --policy must agree', () => {
    const r = run('system physPages=64 freemin=5 freetarg=9 policy=clock\nspawn a');
    assert.equal(r.sys.uvm.pdpol.name, 'clock');
    assert.deepEqual([r.sys.uvm.freemin, r.sys.uvm.freetarg], [5, 9]);
    assert.equal(new ScenarioRunner('t', 'clock').sys.uvm.pdpol.name, 'clock');
    assert.throws(
      () => new ScenarioRunner('t.uvm', 'clock').run('system policy=random'),
      (e: unknown) =>
        e instanceof ScenarioError && /policy=random here, but --policy clock/.test(e.message),
    );
    fails('system policy=lfu', /no such policy/);
    fails('system freemin=9 freetarg=9', /freetarg/);
  });
});

describe('scenario: swap devices', () => {
  it('are numbered as swapon made them, never reused, and swapoff N and inject swap N name them', () => {
    const r = run(
      lines(
        'system physPages=64 swapPages=64',
        'swapon 32',
        'swapon 32 priority 2',
        'swapoff 1',
        'swapon 16',
        'inject swap 2 writes 1',
        'swapoff 0',
      ),
    );
    const out = r.steps.map((s) => s.output.join(' '));
    assert.deepEqual(out.slice(1, 5), [
      'swap device 1: 32 pages, priority 0',
      'swap device 2: 32 pages, priority 2',
      'swap devices left: 2',
      'swap device 3: 16 pages, priority 0',
    ]);
    assert.deepEqual(
      r.sys.uvm.swap.devices.map((d) => d.id),
      [2, 3],
    );
    fails(
      lines('system physPages=64 swapPages=64', 'swapon 8', 'swapoff 1', 'swapoff 1'),
      /t\.uvm:4: no swap device 1/,
    );
  });
});

describe('scenario: bad input is one line, at once', () => {
  const mapped = (line: string) => lines('spawn p', 'mmap p x 1p rw private,anon', line);
  it('refuses sizes no line could build, before building them', () => {
    fails('file f /x 8g', /t\.uvm:1: 8g bytes is more than a scenario line builds/);
    fails(mapped('write p x fill 1 4g'), /t\.uvm:3: 4g bytes is more than/);
    fails(mapped('write p x zeros 2g'), /t\.uvm:3: 2g bytes is more than/);
  });

  it('refuses malformed data instead of writing something else', () => {
    fails(mapped('write p x "abc'), /t\.uvm:3: a quoted string is not closed/);
    fails(mapped('write p x "\\q"'), /t\.uvm:3: unknown escape/);
    fails(mapped('write p x fill 300 1'), /t\.uvm:3: not a byte: 300/);
    fails(mapped('write p x bytes 0x1ff'), /t\.uvm:3: not a byte: 0x1ff/);
    run(mapped('write p x "a " "b\\"c"'));
  });

  it('refuses an errno it does not know', () => {
    fails(lines('spawn p', 'expect EFOO munmap p 0x10000 1p'), /t\.uvm:2: unknown errno EFOO/);
  });
});

describe('scenario: data', () => {
  it('joins parts: "text", fill BYTE LEN, zeros LEN, and bytes last', () => {
    run(
      lines(
        'spawn p',
        'mmap p x 1p rw private,anon',
        'write p x "ab" fill 0x63 2 zeros 1 bytes 100 101',
        'read p x 7 expect "abcc" zeros 1 "de"',
      ),
    );
    fails(
      lines(
        'spawn p',
        'mmap p x 1p rw private,anon',
        'write p x "a" zeros 1',
        'read p x 2 expect "aa"',
      ),
      /t\.uvm:4: read: expected/,
    );
  });

  it('a read that differs late says from which byte on', () => {
    fails(
      lines(
        'spawn p',
        'mmap p x 1p rw private,anon',
        'write p x+40 "Z"',
        'read p x 64 expect zeros 64',
      ),
      /t\.uvm:4: read: from byte 40 on, expected 00 00 .*, got 5a 00 /,
    );
    fails(
      lines('spawn p', 'mmap p x 1p rw private,anon', 'read p x 4 expect zeros 5'),
      /t\.uvm:3: read: expected 00 00 00 00 00, got 00 00 00 00$/,
    );
  });

  it('refuses a byte over 255 and a part without its length', () => {
    fails(
      lines('spawn p', 'mmap p x 1p rw private,anon', 'write p x fill 0x100 1'),
      /t\.uvm:3: not a byte: 0x100/,
    );
    fails(
      lines('spawn p', 'mmap p x 1p rw private,anon', 'write p x fill 0x61'),
      /t\.uvm:3: not a number/,
    );
    fails(
      lines('spawn p', 'mmap p x 1p rw private,anon', 'write p x nonsense'),
      /t\.uvm:3: data is one or more of/,
    );
  });

  it('formatData writes what the parser reads back', () => {
    const b = new Uint8Array(300);
    b.fill(7, 10, 200);
    b[250] = 0xff;
    const text = formatData(b);
    assert.equal(text, 'zeros 10 fill 0x7 190 zeros 50 fill 0xff 1 zeros 49');
    assert.deepEqual(new ScenarioRunner('t').bytes(tokenize(text)), b);
    assert.equal(formatData(new Uint8Array(0)), 'zeros 0');
  });
});

describe('scenario: files', () => {
  it('file NAME PATH SIZE [DATA] [ro]: contents of several parts, opened read-only', () => {
    run(
      lines(
        'file f /f 8k fill 0x41 4k fill 0x42 4k ro',
        'spawn p',
        'expect EACCES mmap p m 2p rw shared file f',
        'mmap p m 2p r private file f',
        'read p m+4k 2 expect "BB"',
      ),
    );
  });

  it('open NAME PATH [ro]: another handle on a file; a missing one fails', () => {
    run(
      lines(
        'file f /f 4k "hello" ro',
        'open g /f',
        'spawn p',
        'mmap p m 1p rw shared file g',
        'write p m "J"',
        'msync p m 1p sync',
        'filecheck /f 0 "Jello"',
      ),
    );
    fails('open g /nope', /t\.uvm:1: open: ENOENT/);
    fails(lines('file f /f 4k', 'open g /f rw'), /t\.uvm:2: usage: open NAME PATH \[ro\]/);
  });
});

describe('scenario: inject', () => {
  it('inject FILE reads K: the next K reads of the file fail, then it reads again', () => {
    run(
      lines(
        'file f /f 4p fill 0x11 4p',
        'spawn p',
        'mmap p m 4p r private file f',
        'inject f reads 1',
        'expect EIO read p m 1',
        'read p m 1 expect fill 0x11 1',
      ),
    );
  });

  it('inject FILE writes K: msync fails with EIO, then writes the page back', () => {
    run(
      lines(
        'file f /f 1p',
        'spawn p',
        'mmap p m 1p rw shared file f',
        'write p m "dirty"',
        'inject f writes 1',
        'expect EIO msync p m 1p sync',
        'filecheck /f 0 zeros 5',
        'msync p m 1p sync',
        'filecheck /f 0 "dirty"',
      ),
    );
  });

  it('inject swap N reads K: a page in swap cannot come back until the error is used up', () => {
    run(
      lines(
        'system physPages=16 swapPages=64',
        'spawn p',
        'mmap p m 40p rw private,anon',
        'write p m "first"',
        ...Array.from({ length: 39 }, (_x, i) => `write p m+${i + 1}p "x"`),
        'check swapouts > 0',
        'inject swap 0 reads 1',
        'expect EIO read p m 5',
        'read p m 5 expect "first"',
      ),
    );
    fails('inject swap 5 reads 1', /t\.uvm:1: no swap device 5/);
    fails(lines('file f /f 1p', 'inject f lots 1'), /t\.uvm:2: usage: inject swap N/);
  });

  it('a MemoryHost fails every open of the path', () => {
    const host = new MemoryHost();
    host.put('/a', new Uint8Array(4));
    const one = host.open('/a')!;
    const two = host.open('/a')!;
    host.faults('/a').failReads = 1;
    assert.equal(two.read(0, new Uint8Array(1)), -1);
    assert.equal(one.read(0, new Uint8Array(1)), 1);
    host.faults('/a').failWrites = 1;
    assert.equal(one.write(0, new Uint8Array(1)), false);
    assert.equal(host.open('/b'), null);
  });
});

describe('scenario: processes and maps', () => {
  it('exec PROC "ROW" ...: a fresh image from maps rows', () => {
    run(
      lines(
        'file f /f 4k fill 0x41 4k',
        'spawn p',
        'mmap p old 1p rw private,anon',
        'exec p "100000000-100002000 rw-p 00000000 00:00 0 " "100002000-100003000 r--p 00000000 00:00 0 /f"',
        'mapscheck p 0x100000000-0x100002000 rw-p 0x100002000-0x100003000 r--p',
        'read p 0x100002000 1 expect "A"',
      ),
    );
    fails(
      lines('spawn p', 'exec p "garbage"'),
      /t\.uvm:2: exec: EINVAL: not a \/proc\/PID\/maps row: "garbage"/,
    );
    fails(
      lines('spawn p', 'exec p 100000000-100002000'),
      /t\.uvm:2: exec: each row is a "quoted string"/,
    );
  });

  it('rlimit PROC memlock N: the lock limit', () => {
    run(
      lines(
        'spawn p',
        'rlimit p memlock 1p',
        'mmap p m 2p rw private,anon',
        'expect ENOMEM mlock p m 2p',
        'mlock p m 1p',
      ),
    );
    fails(lines('spawn p', 'rlimit p stack 1'), /t\.uvm:2: rlimit: only memlock/);
  });

  it('mapscheck PROC [START-END PERMS]...: the coalesced maps', () => {
    const text = lines(
      'spawn p',
      'mmap p a 1p rw private,anon,fixed at 0x100000000',
      'mmap p b 1p rw private,anon,fixed at 0x100001000',
      'mmap p c 1p r shared,anon,fixed at 0x100003000',
    );
    run(`${text}\nmapscheck p 0x100000000-0x100002000 rw-p 0x100003000-0x100004000 r--s`);
    fails(
      `${text}\nmapscheck p 0x100000000-0x100002000 rw-p`,
      /t\.uvm:5: mapscheck: p has .* not 0x100000000-0x100002000 rw-p$/,
    );
    fails(`${text}\nmapscheck p 0x100000000 rw-p`, /t\.uvm:5: usage: mapscheck/);
    run(lines('spawn p', 'mapscheck p'));
  });

  it('close: every process ends and nothing is left in use', () => {
    const r = run(
      lines('spawn p', 'mmap p m 4p rw private,anon', 'write p m "x"', 'fork p q', 'close'),
    );
    assert.deepEqual(r.steps.at(-1)!.output, [
      'closed: every frame, anon, amap, object and swap slot is free',
    ]);
    fails(lines('spawn p', 'close', 'read p 0x100000000 1'), /t\.uvm:3: no process named "p"/);
    const sys = new VmSystem({ physPages: 16, swapPages: 16 });
    sys.spawn().mmap(0, 4096, 3, 0x22);
    assert.deepEqual(closeSystem(sys), []);
  });
});

describe('scenario: kernel panics and livelocks', () => {
  it('a kernel panic in a command fails its line', () => {
    const r = new ScenarioRunner('t.uvm');
    r.sys.pagedaemon = () => {
      throw new KernelPanic('boom');
    };
    assert.throws(
      () => r.run('spawn p\npagedaemon'),
      (e: unknown) => e instanceof ScenarioError && e.message === 't.uvm:2: KernelPanic: boom',
    );
  });

  it('guardReclaim: more reclaims than the budget in one command is a livelock', () => {
    const sys = new VmSystem({ physPages: 16, swapPages: 16 });
    const start = guardReclaim(sys, 3);
    for (let i = 0; i < 3; i++) sys.uvm.reclaim!();
    assert.throws(() => sys.uvm.reclaim!(), Livelock);
    start();
    sys.uvm.reclaim!();
  });

  it('system poisonFreed=0|1', () => {
    assert.equal(run('system physPages=32 poisonFreed=1').sys.uvm.poisonFreed, true);
    assert.equal(run('system physPages=32').sys.uvm.poisonFreed, false);
    fails('system poisonFreed=2', /t\.uvm:1: poisonFreed is 0 or 1/);
  });
});

/*
 * Replay of recorded programs: the bundled samples reproduce their real
 * final maps exactly (coalesced), and small logs check each rule: errno
 * agreement, partial failures, unknown lines, clone sharing, vfork+execve.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Recording } from '../src/cli/replay.ts';
import { coalesceMaps, diffMaps } from '../src/sys/procmaps.ts';
import { VmSystem } from '../src/sys/system.ts';
import { Replay, type ReplayReport } from '../src/tools/replay.ts';
import { parseStrace, StraceReader } from '../src/tools/strace.ts';

const SAMPLES = new URL('../samples/', import.meta.url).pathname;

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').trimEnd().split('\n');
}

/** replayLog: a log (lines without pid/time) on a fresh system. */
function replayLog(
  log: string[],
  snapshots: Record<number, string[]> = {},
  real: Record<string, string[]> = {},
): { report: ReplayReport; replay: Replay; sys: VmSystem } {
  const text = log.map(
    (l, i) => `${l.replace(/^(\d+) /, `$1 00:00:00.${String(i).padStart(6, '0')} `)}`,
  );
  const sys = new VmSystem({ physPages: 256, swapPages: 256 });
  const replay = new Replay(sys, {
    snapshot: (pid) =>
      snapshots[pid] ? { rows: snapshots[pid], source: `init/x.${pid}.maps` } : null,
    realMaps: (pid, at) => real[`${pid}.${at}`] ?? null,
  });
  const report = replay.run(parseStrace(text.join('\n')));
  sys.audit();
  return { report, replay, sys };
}

describe('replay: the bundled samples', () => {
  for (const name of ['memops', 'py_fork_mmap']) {
    it(`${name}: no mismatched call, and the marked maps equal ${name}.maps`, () => {
      const sys = new VmSystem({ physPages: 4096, swapPages: 4096 });
      const files = new Recording(`${SAMPLES}${name}.strace`);
      const replay = new Replay(sys, {
        snapshot: (pid, exec) => files.snapshot(pid, exec),
      });
      const report = replay.run(files.events());
      assert.deepEqual(report.mismatches, []);
      assert.deepEqual(report.unknown, []);
      const main = report.processes[0].pid;
      const real = lines(`${SAMPLES}${name}.maps`);
      const ours = replay.mapsAt(main)!;
      assert.deepEqual(coalesceMaps(ours), coalesceMaps(real));
      assert.deepEqual(diffMaps(ours, real), []);
      assert.ok(report.calls > 50);
      replay.release();
      sys.audit();
      sys.close();
    });
  }

  it('memops: the stand-in for a file that does not exist is as big as its mappings', () => {
    const sys = new VmSystem({ physPages: 4096, swapPages: 4096 });
    const replay = new Replay(sys, { snapshot: () => null });
    const report = replay.run(parseStrace(readFileSync(`${SAMPLES}memops.strace`, 'utf8')));
    const dat = report.files.find((f) => f.path === '/tmp/tracecorpus/memops.dat');
    assert.deepEqual(dat, { path: '/tmp/tracecorpus/memops.dat', real: false, size: 65536 });
    replay.release();
    sys.close();
  });
});

describe('replay: rules', () => {
  const A = 0x7f0000000000;
  const hexA = (off = 0) => `0x${(A + off).toString(16)}`;
  const anon = (len: number, prot = 'PROT_READ|PROT_WRITE') =>
    `mmap(${hexA()}, ${len}, ${prot}, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0)`;

  it('a call that failed in the log but succeeds here is a mismatch', () => {
    const { report } = replayLog([
      `1 ${anon(4096)} = -1 ENOMEM (Cannot allocate memory)`,
      `1 munmap(${hexA(1)}, 4096) = 0`,
    ]);
    assert.deepEqual(
      report.mismatches.map((m) => [m.line, m.call.split('(')[0], m.expected, m.got]),
      [
        [1, 'mmap', 'ENOMEM', `= ${hexA()}`],
        [2, 'munmap', '= 0', 'EINVAL'],
      ],
    );
  });

  it('the same errno as the log is no mismatch; a different result is', () => {
    const { report } = replayLog([
      `1 munmap(${hexA(1)}, 4096) = -1 EINVAL (Invalid argument)`,
      `1 ${anon(4096)} = ${hexA(8192)}`,
    ]);
    assert.equal(report.mismatches.length, 0, 'a successful mmap is placed where the log says');
    const { report: r2 } = replayLog([`1 brk(NULL) = 0x1000`, `1 brk(0x1000) = 0x2000`]);
    assert.deepEqual(
      r2.mismatches.map((m) => m.line),
      [2],
    );
  });

  it('a failed mprotect over a hole is reported as partial', () => {
    const { report, replay } = replayLog([
      `1 ${anon(8192)} = ${hexA()}`,
      `1 munmap(${hexA(4096)}, 4096) = 0`,
      `1 mprotect(${hexA()}, 8192, PROT_READ) = -1 ENOMEM (Cannot allocate memory)`,
    ]);
    assert.equal(report.mismatches.length, 0);
    assert.deepEqual(
      report.partial.map((n) => n.line),
      [3],
    );
    assert.match(replay.mapsAt(1)![0], / rw-p /, 'this system changed nothing');
  });

  it('a call it does not know is listed with its line, never skipped', () => {
    const { report } = replayLog([`1 ${anon(4096)} = ${hexA()}`, '1 frobnicate(3) = 0']);
    assert.deepEqual(report.unknown, [
      { line: 2, text: 'frobnicate: a call this replay does not know' },
    ]);
  });

  it('clone with CLONE_VM shares the space; without it, copies', () => {
    const { report, replay } = replayLog([
      `1 ${anon(4096)} = ${hexA()}`,
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 2',
      `2 mmap(${hexA(65536)}, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0) = ${hexA(65536)}`,
      '1 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x1) = 3',
      `3 munmap(${hexA()}, 4096) = 0`,
      '1 kill(1, 0) = 0',
      '3 kill(3, 0) = 0',
    ]);
    assert.equal(report.mismatches.length, 0);
    assert.equal(replay.mapsAt(1)!.length, 2, 'the thread mapped into the shared space');
    assert.equal(replay.mapsAt(3)!.length, 1, 'the fork child unmapped its own copy only');
    assert.deepEqual(
      report.processes.map((p) => [p.pid, p.parent]),
      [
        [1, null],
        [2, 1],
        [3, 1],
      ],
    );
  });

  it('a vfork child shares until its execve, which starts it from its snapshot', () => {
    const snap = ['555555554000-555555555000 r--p 00000000 08:01 42     /usr/bin/true'];
    const { report, replay } = replayLog(
      [
        `1 ${anon(4096)} = ${hexA()}`,
        '1 vfork( <unfinished ...>',
        '2 execve("/usr/bin/true", [...], 0x1 /* 3 vars */) = 0',
        '1 <... vfork resumed>) = 2',
        '2 exit_group(0) = ?',
        '2 +++ exited with 0 +++',
      ],
      { 2: snap },
    );
    assert.equal(report.mismatches.length, 0);
    assert.deepEqual(coalesceMaps(replay.mapsAt(2)!), coalesceMaps(snap));
    assert.equal(replay.mapsAt(1)!.length, 1, "the parent's space is its own again");
    assert.deepEqual(report.processes[1].execs, ['/usr/bin/true']);
  });

  it('the compare point is the first kill(PID, 0) = 0 of the pid', () => {
    const { replay } = replayLog([
      `1 ${anon(4096)} = ${hexA()}`,
      '1 kill(1, 0) = 0',
      `1 munmap(${hexA()}, 4096) = 0`,
    ]);
    assert.equal(replay.mapsAt(1)!.length, 1);
  });

  it('a pid that acts after its exit is reported', () => {
    const { report } = replayLog(['1 exit_group(0) = ?', '1 getpid() = 1']);
    assert.deepEqual(
      report.unknown.map((n) => n.line),
      [2],
    );
  });
});

describe('replay: real programs, all of them (issue 12)', () => {
  const hex = (n: number) => `0x${n.toString(16)}`;
  const A = 0x7f0000000000;
  const anon = 'PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0';

  it('overlapping thread calls are applied in the order their results allow, and the report says so', () => {
    /* the node-workers case: 2's munmap is cut by 3's mmap, placed inside the range being unmapped */
    const log = [
      `1 mmap(NULL, 16384, ${anon}) = ${hex(A)}`,
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 2',
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 3',
      `2 munmap(${hex(A)}, 16384 <unfinished ...>`,
      `3 mmap(NULL, 4096, ${anon}) = ${hex(A + 4096)}`,
      '2 <... munmap resumed>) = 0',
      `3 mprotect(${hex(A + 4096)}, 4096, PROT_READ) = 0`,
    ];
    const { report, replay } = replayLog(log);
    assert.deepEqual(report.mismatches, []);
    assert.deepEqual(report.orders, [
      {
        line: 5,
        text: 'lines 6, 5 applied in this order (completed as 5, 6): completion order disagrees with their results',
      },
    ]);
    assert.match(replay.mapsAt(1)!.join('\n'), /^7f0000001000-7f0000002000 r--p /m);
  });

  /* the racing-threads case with something else inside the window: 2's munmap is cut by 3's mmap placed inside its range */
  const race = (inside: string[], before: string[] = []) => [
    `1 mmap(NULL, 16384, ${anon}) = ${hex(A)}`,
    '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 2',
    ...before,
    `2 munmap(${hex(A)}, 16384 <unfinished ...>`,
    ...inside,
    `3 mmap(NULL, 4096, ${anon}) = ${hex(A + 4096)}`,
    '2 <... munmap resumed>) = 0',
    `3 mprotect(${hex(A + 4096)}, 4096, PROT_READ) = 0`,
  ];
  const thread3 = '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 3';

  it("a thread's exit inside a window of overlapping calls does not stop their reordering", () => {
    const before = [thread3, '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 4'];
    const { report, replay } = replayLog(
      race(['4 exit(0) = ?', '4 +++ exited with 0 +++'], before),
    );
    assert.deepEqual(report.mismatches, []);
    assert.deepEqual(report.unknown, []);
    assert.equal(report.orders.length, 1);
    assert.match(report.orders[0].text, /completion order disagrees with their results/);
    assert.equal(report.processes.find((p) => p.pid === 4)?.exited, true);
    assert.match(replay.mapsAt(1)!.join('\n'), /^7f0000001000-7f0000002000 r--p /m);
  });

  it('a thread made inside the window is ordered with the space it shares', () => {
    const { report } = replayLog(race([thread3]));
    assert.deepEqual(report.mismatches, []);
    assert.deepEqual(report.unknown, []);
    assert.equal(report.orders.length, 1);
  });

  it('a thread made and ended inside the window does not stop the reordering', () => {
    const short = [
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 5',
      '5 exit(0) = ?',
      '5 +++ exited with 0 +++',
    ];
    const { report } = replayLog(race(short, [thread3]));
    assert.deepEqual(report.mismatches, []);
    assert.deepEqual(report.unknown, []);
    assert.equal(report.orders.length, 1);
    assert.equal(report.processes.find((p) => p.pid === 5)?.exited, true);
  });

  it('a thread whose first call moves later is still adopted at its first line, from the clone then unfinished', () => {
    const { report, replay } = replayLog([
      `1 mmap(NULL, 16384, ${anon}) = ${hex(A)}`,
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 2',
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 4',
      `2 munmap(${hex(A)}, 16384 <unfinished ...>`,
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0} <unfinished ...>',
      `3 mmap(NULL, 4096, ${anon}) = ${hex(A + 4096)}`,
      '4 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 9',
      '2 <... munmap resumed>) = 0',
      '1 <... clone3 resumed>, 88) = 3',
      `3 mprotect(${hex(A + 4096)}, 4096, PROT_READ) = 0`,
    ]);
    assert.deepEqual(report.unknown, []);
    assert.deepEqual(report.mismatches, []);
    assert.equal(report.orders.length, 1);
    assert.match(replay.mapsAt(1)!.join('\n'), /^7f0000001000-7f0000002000 r--p /m);
  });

  it('the +++ line of a thread whose exit call came before the window does not stop the reordering', () => {
    const before = [
      thread3,
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 4',
      '4 exit(0) = ?',
    ];
    const { report } = replayLog(race(['4 +++ exited with 0 +++'], before));
    assert.deepEqual(report.mismatches, []);
    assert.equal(report.orders.length, 1);
  });

  it('a fork inside the window still keeps it in completion order', () => {
    const { report } = replayLog(race(['1 clone(child_stack=NULL, flags=SIGCHLD) = 5'], [thread3]));
    assert.equal(report.orders.length, 0);
    assert.equal(report.mismatches.length, 1, "3's mprotect finds its page unmapped");
  });

  it('a window of thousands of overlapping calls is searched too', () => {
    const busy: string[] = [];
    for (let i = 0; i < 1500; i++)
      busy.push(
        `3 mmap(NULL, 4096, ${anon}) = ${hex(A + 65536)}`,
        `3 munmap(${hex(A + 65536)}, 4096) = 0`,
      );
    const { report } = replayLog(race(busy, [thread3]));
    assert.deepEqual(report.mismatches, []);
    assert.equal(report.orders.length, 1);
    assert.match(report.orders[0].text, /completion order disagrees with their results/);
  });

  it('overlapping calls no order explains are applied in completion order, and said so', () => {
    const { report } = replayLog([
      `1 mmap(NULL, 8192, ${anon}) = ${hex(A)}`,
      '1 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 2',
      `2 mprotect(${hex(A + 65536)}, 4096, PROT_READ <unfinished ...>`,
      `1 munmap(${hex(A)}, 4096) = 0`,
      '2 <... mprotect resumed>) = 0',
    ]);
    assert.equal(report.orders.length, 1);
    assert.match(
      report.orders[0].text,
      /lines 4, 5: no order agrees with every result; applied in completion order/,
    );
    assert.equal(report.mismatches.length, 1, 'the impossible mprotect is still a mismatch');
  });

  it('a mapped file unlinked, renamed over or a memfd is marked (deleted); a new file at the path is not', () => {
    const { replay, report } = replayLog([
      `1 mmap(NULL, 8192, PROT_READ, MAP_SHARED, 3</no/such/dir/a.dat>, 0) = ${hex(A)}`,
      '1 unlink("/no/such/dir/a.dat") = 0',
      `1 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3</no/such/dir/a.dat>, 0) = ${hex(A + 65536)}`,
      `1 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 4</no/such/dir/b.dat>, 0) = ${hex(A + 131072)}`,
      '1 renameat2(AT_FDCWD, "/tmp/new", 5</no/such/dir>, "b.dat", 0) = 0',
      '1 memfd_create("m", MFD_CLOEXEC) = 6</memfd:m>(deleted)',
      `1 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, 6</memfd:m>(deleted), 0) = ${hex(A + 196608)}`,
      '1 unlink("/no/such/dir/c.dat") = -1 ENOENT (No such file or directory)',
    ]);
    assert.deepEqual(report.mismatches, []);
    assert.deepEqual(report.unknown, []);
    const names = replay.mapsAt(1)!.map((r) => r.slice(73));
    assert.deepEqual(names, [
      '/no/such/dir/a.dat (deleted)',
      '/no/such/dir/a.dat',
      '/no/such/dir/b.dat (deleted)',
      '/memfd:m (deleted)',
    ]);
  });

  it('an execve killed inside ("= ?") is no exec; a missing or empty snapshot is reported', () => {
    const { report } = replayLog(
      [
        '1 execve("/bin/a", [...], 0x1 /* 1 var */) = 0',
        '1 clone(child_stack=NULL, flags=SIGCHLD) = 2',
        '2 execve("/bin/b", [...], 0x1 /* 1 var */) = 0',
        '1 clone(child_stack=NULL, flags=SIGCHLD) = 3',
        '3 execve("/bin/c", [...], 0x1 /* 1 var */ <unfinished ...>',
        '3 <... execve resumed>) = ?',
        '3 +++ killed by SIGKILL +++',
      ],
      { 2: [] },
    );
    assert.deepEqual(report.snapshots, [
      { line: 1, text: 'no init snapshot for pid 1: it starts empty' },
      {
        line: 3,
        text: 'init/x.2.maps is empty (the process was gone before its maps were read): pid 2 starts empty',
      },
    ]);
    assert.deepEqual(
      report.processes.map((p) => p.execs),
      [['/bin/a'], ['/bin/b'], []],
    );
  });

  it('[stack] grows to what the real exit maps show, said in the report; never silently', () => {
    const stack = (start: number) =>
      `${hex(start).slice(2)}-7ffffffff000 rw-p 00000000 00:00 0                          [stack]`;
    const snap = [stack(0x7fffffffe000 - 0x20000)];
    const log = ['1 execve("/bin/deep", [...], 0x1 /* 1 var */) = 0', '1 exit_group(0) = ?'];
    const grown = replayLog(log, { 1: snap }, { '1.exit': [stack(0x7ffffffff000 - 0x390000)] });
    assert.match(grown.report.stacks[0].text, /pid 1: \[stack\] grown from 132 KiB to 3648 KiB/);
    assert.deepEqual(diffMaps(grown.replay.exitMaps(1)!, [stack(0x7ffffffff000 - 0x390000)]), []);
    const plain = replayLog(log, { 1: snap });
    assert.deepEqual(plain.report.stacks, []);
    assert.deepEqual(diffMaps(plain.replay.exitMaps(1)!, snap), []);
  });

  it('lines it cannot read are listed and the rest replayed', () => {
    const sys = new VmSystem({ physPages: 64, swapPages: 64 });
    const replay = new Replay(sys, { snapshot: () => null });
    const r = new StraceReader();
    const lines = [
      `1 00:00:00.000001 mmap(NULL, 4096, ${anon}) = ${hex(A)}`,
      '1 00:00:00.000002 ???( <unfinished ...>',
      'garbage',
      `1 00:00:00.000004 munmap(${hex(A)}, 4096 <unfinished ...>`,
    ];
    const report = replay.run([...lines.flatMap((l) => r.line(l)), ...r.end()]);
    assert.deepEqual(
      report.unknown.map((n) => n.line),
      [3, 4],
    );
    assert.equal(replay.mapsAt(1)!.length, 1);
  });
});

describe('replay: coalesced comparison', () => {
  it('joins rows that agree and ignores device, inode and anonymous offsets', () => {
    const rows = [
      '7f0000000000-7f0000001000 rw-p 00000000 00:00 0 ',
      '7f0000001000-7f0000002000 rw-p 00005000 00:00 0 ',
      '7f0000002000-7f0000003000 r--p 00002000 08:01 7     /lib/x',
      '7f0000003000-7f0000004000 r--p 00003000 08:02 9     /lib/x',
      'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
    ];
    assert.deepEqual(coalesceMaps(rows), [
      '7f0000000000-7f0000002000 rw-p 00000000',
      '7f0000002000-7f0000004000 r--p 00002000 /lib/x',
    ]);
    assert.deepEqual(diffMaps(rows.slice(0, 2), rows.slice(0, 1)), [
      { kind: 'missing', row: '7f0000000000-7f0000001000 rw-p 00000000' },
      { kind: 'extra', row: '7f0000000000-7f0000002000 rw-p 00000000' },
    ]);
  });
});

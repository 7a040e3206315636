/*
 * The strace log parser: every line form of ../shared/samples/FORMAT.md,
 * and malformed lines (a StraceError naming the line).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CallEvent,
  fdPath,
  type NoteEvent,
  parseFlags,
  parseNumber,
  parseStrace,
  type StartEvent,
  StraceError,
  type StraceEvent,
  StraceReader,
} from '../src/tools/strace.ts';

function one(line: string): StraceEvent {
  const events = parseStrace(line);
  assert.equal(events.length, 1);
  return events[0];
}

function call(line: string): CallEvent {
  const ev = one(line);
  assert.equal(ev.kind, 'call');
  return ev as CallEvent;
}

function fails(text: string, line: number, what: RegExp): void {
  assert.throws(
    () => parseStrace(text),
    (e: unknown) => e instanceof StraceError && e.line === line && what.test(e.message),
  );
}

describe('strace: line structure (FORMAT 1)', () => {
  it('reads pid, time and a complete call with its padded result', () => {
    const ev = call('12800 23:29:33.023278 brk(NULL)         = 0x565534bc1000');
    assert.equal(ev.pid, 12800);
    assert.equal(ev.time, '23:29:33.023278');
    assert.equal(ev.name, 'brk');
    assert.deepEqual(ev.args, ['NULL']);
    assert.equal(ev.result, 0x565534bc1000);
    assert.equal(ev.errno, null);
    assert.equal(ev.line, 1);
  });

  it('accepts a short pid followed by several spaces (FORMAT 7)', () => {
    const ev = call('4716  23:28:28.178536 munmap(0x7f861ff8c000, 38759) = 0');
    assert.equal(ev.pid, 4716);
    assert.deepEqual(ev.args, ['0x7f861ff8c000', '38759']);
    assert.equal(ev.result, 0);
  });

  it('numbers events by their line, skipping blank lines', () => {
    const evs = parseStrace('1 00:00:00.000001 getpid() = 1\n\n2 00:00:00.000002 getpid() = 2\n');
    assert.deepEqual(
      evs.map((e) => [e.pid, e.line]),
      [
        [1, 1],
        [2, 3],
      ],
    );
  });
});

describe('strace: unfinished and resumed calls (FORMAT 1.2)', () => {
  it('joins partial and rest at the resumed line, keeping the start line', () => {
    const evs = parseStrace(
      [
        '12779 23:29:32.895058 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD <unfinished ...>',
        '12782 23:29:32.895100 mmap(NULL, 32768, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f42a40e8000',
        '12779 23:29:32.895382 <... clone resumed>, child_tidptr=0x306f5690) = 12782',
      ].join('\n'),
    );
    assert.deepEqual(
      evs.map((e) => e.kind),
      ['start', 'call', 'call'],
    );
    const start = evs[0];
    assert.ok(start.kind === 'start' && start.name === 'clone' && /SIGCHLD/.test(start.partial));
    const clone = evs[2] as CallEvent;
    assert.equal(clone.name, 'clone');
    assert.deepEqual(clone.args, [
      'child_stack=NULL',
      'flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD',
      'child_tidptr=0x306f5690',
    ]);
    assert.equal(clone.result, 12782);
    assert.equal(clone.line, 3);
    assert.equal(clone.startLine, 1);
  });

  it('joins a partial ending in ", " with the output arguments', () => {
    const evs = parseStrace(
      '12768 23:29:32.870100 wait4(12770,  <unfinished ...>\n' +
        '12768 23:29:32.870499 <... wait4 resumed>NULL, 0, NULL) = 12770',
    );
    const w = evs[1] as CallEvent;
    assert.deepEqual(w.args, ['12770', 'NULL', '0', 'NULL']);
    assert.equal(w.result, 12770);
  });

  it('joins an empty rest (vfork, mmap, exit_group)', () => {
    const evs = parseStrace(
      [
        '12809 23:29:33.059826 vfork( <unfinished ...>',
        '12803 23:29:33.032177 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0 <unfinished ...>',
        '12809 23:29:33.059953 <... vfork resumed>) = 12810',
        '12803 23:29:33.032201 <... mmap resumed>) = 0x7f02f9c18000',
        '12811 23:29:33.040796 exit_group(0 <unfinished ...>',
        '12811 23:29:33.040827 <... exit_group resumed>) = ?',
      ].join('\n'),
    );
    const calls = evs.filter((e): e is CallEvent => e.kind === 'call');
    assert.deepEqual(
      calls.map((c) => [c.name, c.args.length, c.result]),
      [
        ['vfork', 0, 12810],
        ['mmap', 6, 0x7f02f9c18000],
        ['exit_group', 1, null],
      ],
    );
  });

  it('reads a thread exit split the same way (FORMAT 7)', () => {
    const evs = parseStrace(
      '5 00:00:00.000001 exit(0 <unfinished ...>\n5 00:00:00.000002 <... exit resumed>) = ?',
    );
    assert.equal((evs[1] as CallEvent).name, 'exit');
  });

  it('reads <unavailable> when the process died inside the call', () => {
    const evs = parseStrace(
      '7 00:00:00.000001 wait4(-1,  <unfinished ...>\n7 00:00:00.000002 <... wait4 resumed> <unavailable>) = ? <unavailable>',
    );
    const w = evs[1] as CallEvent;
    assert.equal(w.result, null);
    assert.equal(w.errno, null);
  });
});

describe('strace: signals, stops and exits (FORMAT 1.3-1.5)', () => {
  it('reads signal lines with comments and addresses', () => {
    for (const [line, sig] of [
      ['12800 23:29:33.021440 --- SIGSTOP {si_signo=SIGSTOP, si_code=SI_KERNEL} ---', 'SIGSTOP'],
      [
        '12809 23:29:33.085291 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=12810, si_uid=0, si_status=0, si_utime=0, si_stime=1 /* 0.01 s */} ---',
        'SIGCHLD',
      ],
      [
        '9 00:00:00.000001 --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} ---',
        'SIGSEGV',
      ],
    ]) {
      const ev = one(line);
      assert.ok(ev.kind === 'signal' && ev.signal === sig, line);
    }
  });

  it('reads a group-stop', () => {
    const ev = one('12800 23:29:33.021453 --- stopped by SIGSTOP ---');
    assert.ok(ev.kind === 'stopped' && ev.signal === 'SIGSTOP');
  });

  it('reads every exit form', () => {
    const cases: [string, number | null, string | null, number | null][] = [
      ['12802 23:29:33.040745 +++ exited with 0 +++', 0, null, null],
      ['12771 23:29:32.871043 +++ killed by SIGKILL +++', null, 'SIGKILL', null],
      ['12771 23:29:32.871043 +++ killed by SIGSEGV (core dumped) +++', null, 'SIGSEGV', null],
      ['12790 23:29:32.871043 +++ superseded by execve in pid 12788 +++', null, null, 12788],
    ];
    for (const [line, status, killedBy, by] of cases) {
      const ev = one(line);
      assert.ok(ev.kind === 'exit', line);
      assert.deepEqual([ev.status, ev.killedBy, ev.supersededBy], [status, killedBy, by]);
    }
  });
});

describe('strace: results (FORMAT 2)', () => {
  it('reads integers, addresses, "?" and errnos', () => {
    const cases: [string, number | null, string | null][] = [
      ['12768 23:29:32.881151 wait4(12775, NULL, 0, NULL) = 12775', 12775, null],
      [
        '12768 23:29:32.864646 mremap(0x7f17a2202000, 65536, 131072, MREMAP_MAYMOVE) = 0x7f17a21e2000',
        0x7f17a21e2000,
        null,
      ],
      [
        '12768 23:29:32.865062 mremap(0x7f17a2212000, 32768, 65536, 0) = -1 ENOMEM (Cannot allocate memory)',
        -1,
        'ENOMEM',
      ],
      ['12769 23:29:32.869710 exit(0)           = ?', null, null],
      [
        '12809 23:29:33.060143 wait4(12810, 0x235abb40, 0, NULL) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)',
        null,
        'ERESTARTSYS',
      ],
    ];
    for (const [line, result, errno] of cases) {
      const ev = call(line);
      assert.deepEqual([ev.result, ev.errno], [result, errno], line);
    }
  });

  it('finds the result from the end when " == " occurs inside', () => {
    const evs = parseStrace(
      '12800 23:29:33.040000 wait4(-1,  <unfinished ...>\n' +
        '12800 23:29:33.040770 <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 12802',
    );
    const w = evs[1] as CallEvent;
    assert.equal(w.result, 12802);
    assert.deepEqual(w.args, ['-1', '[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]', '0', 'NULL']);
  });
});

describe('strace: arguments (FORMAT 3)', () => {
  it('keeps fd annotations whole and gives their paths', () => {
    const ev = call(
      '12800 23:29:33.023717 mmap(NULL, 207168, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3</usr/lib/x86_64-linux-gnu/libtinfo.so.6.4>, 0) = 0x7f861ff59000',
    );
    assert.equal(ev.args.length, 6);
    assert.equal(fdPath(ev.args[4]), '/usr/lib/x86_64-linux-gnu/libtinfo.so.6.4');
    assert.equal(fdPath('-1'), null);
    assert.equal(fdPath('99'), null);
    assert.equal(fdPath('3</tmp/x, y (deleted)>'), '/tmp/x, y (deleted)');
    assert.equal(
      fdPath('5</memfd:uvm>(deleted)'),
      '/memfd:uvm (deleted)',
      'as strace 6.1 writes it',
    );
    const memfd = call('1 00:00:00.000001 memfd_create("uvm", 0) = 5</memfd:uvm>(deleted)');
    assert.deepEqual([memfd.result, memfd.errno], [5, null]);
    const open = call('1 00:00:00.000001 memfd_create("x", 0) = 3</memfd:x>');
    assert.equal(open.result, 3);
    assert.equal(
      fdPath(
        call(
          '1 00:00:00.000001 mmap(NULL, 4096, PROT_READ, MAP_SHARED, 3</memfd:name (deleted)>, 0) = 0x1000',
        ).args[4],
      ),
      '/memfd:name (deleted)',
    );
  });

  it('reads hex offsets, flags, NULL and elided arrays', () => {
    const ev = call(
      '12800 23:29:33.023743 mmap(0x7f861ff68000, 69632, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3</usr/lib/x86_64-linux-gnu/libtinfo.so.6.4>, 0xf000) = 0x7f861ff68000',
    );
    assert.equal(parseNumber(ev.args[5]), 0xf000);
    assert.deepEqual(parseFlags(ev.args[3]), ['MAP_PRIVATE', 'MAP_FIXED', 'MAP_DENYWRITE']);
    assert.equal(parseNumber('NULL'), 0);
    assert.deepEqual(parseFlags('0'), []);
    const mc = call('12768 23:29:32.868539 mincore(0x7f17a21f2000, 65536, [...]) = 0');
    assert.deepEqual(mc.args, ['0x7f17a21f2000', '65536', '[...]']);
  });

  it('reads execve with its string, elided argv and comment', () => {
    const ev = call(
      '12800 23:29:33.021060 execve("/tmp/tracecorpus/launch", [...], 0x7ffc37f8fb60 /* 13 vars */) = 0',
    );
    assert.deepEqual(ev.args, ['"/tmp/tracecorpus/launch"', '[...]', '0x7ffc37f8fb60']);
  });

  it('keeps a clone3 struct and its written-back value as one argument', () => {
    const ev = call(
      '12768 23:29:32.868702 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7f17a21e1990, parent_tid=0x7f17a21e1990, exit_signal=0, stack=0x7f17a19e1000, stack_size=0x7fff80, tls=0x7f17a21e16c0} => {parent_tid=[12769]}, 88) = 12769',
    );
    assert.equal(ev.args.length, 2);
    assert.match(ev.args[0], /^\{flags=CLONE_VM\|.*\} => \{parent_tid=\[12769\]\}$/);
    assert.equal(ev.args[1], '88');
  });

  it('reads mremap with and without its fifth argument', () => {
    assert.equal(
      call('12768 23:29:32.864819 mremap(0x7f17a21e2000, 131072, 32768, 0) = 0x7f17a21e2000').args
        .length,
      4,
    );
    assert.deepEqual(
      call(
        '12768 23:29:32.864927 mremap(0x7f17a243d000, 16384, 16384, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7f17a2230000) = 0x7f17a2230000',
      ).args,
      ['0x7f17a243d000', '16384', '16384', 'MREMAP_MAYMOVE|MREMAP_FIXED', '0x7f17a2230000'],
    );
  });
});

describe('strace: malformed logs', () => {
  const ok = '1 00:00:00.000001 getpid() = 1\n';
  it('rejects a line without pid and time, naming the line', () => {
    fails(`${ok}hello world\n`, 2, /line 2: not "PID TIME event"/);
    fails(`${ok}12 1:2:3 brk(NULL) = 0\n`, 2, /line 2/);
  });
  it('rejects a call without a result', () => {
    fails(`${ok}${ok}1 00:00:00.000002 brk(NULL\n`, 3, /line 3: malformed call/);
  });
  it('rejects a body that is no known form', () => {
    fails('1 00:00:00.000001 ??? what\n', 1, /malformed call/);
    fails('1 00:00:00.000001 --- SIGSTOP ---\n', 1, /malformed signal line/);
    fails('1 00:00:00.000001 +++ vanished +++\n', 1, /malformed exit line/);
  });
  it('rejects a resumed call that never started', () => {
    fails(`${ok}1 00:00:00.000002 <... mmap resumed>) = 0x1000\n`, 2, /mmap resumed, but pid 1/);
  });
  it('rejects a second unfinished call of one pid, at the first', () => {
    fails(
      '1 00:00:00.000001 vfork( <unfinished ...>\n1 00:00:00.000002 wait4(-1,  <unfinished ...>\n',
      1,
      /vfork of pid 1 is never resumed/,
    );
  });
  it('rejects a call never resumed, at its start line', () => {
    fails(
      `${ok}1 00:00:00.000002 vfork( <unfinished ...>\n2 00:00:00.000003 getpid() = 2\n`,
      2,
      /vfork of pid 1 is never resumed/,
    );
  });
  it('rejects unbalanced arguments', () => {
    fails('1 00:00:00.000001 mmap(NULL, [4096, 0) = 0\n', 1, /unbalanced/);
    fails('1 00:00:00.000001 execve("/bin/x, [...]) = 0\n', 1, /unbalanced/);
  });
});

describe('strace: the reader never throws (issue 12, 13)', () => {
  function read(lines: string[]): StraceEvent[] {
    const r = new StraceReader();
    return [...lines.flatMap((l) => r.line(l)), ...r.end()];
  }

  it('notes a bad line with its number and text, and reads on', () => {
    const evs = read([
      '1 00:00:00.000001 getpid() = 1',
      'garbage here',
      '1 00:00:00.000003 mmap(NULL, 4096, PROT_READ, MAP_PRIV',
      '1 00:00:00.000004 brk(NULL) = 0x1000',
    ]);
    assert.deepEqual(
      evs.map((e) => [e.kind, e.line]),
      [
        ['call', 1],
        ['note', 2],
        ['note', 3],
        ['call', 4],
      ],
    );
    const n = evs[1] as NoteEvent;
    assert.match(n.text, /not "PID TIME event": "garbage here"/);
    assert.match((evs[2] as NoteEvent).text, /malformed call: "mmap\(NULL, 4096/);
  });

  it('accepts ???( (a thread killed at syscall entry) and drops it at the exit', () => {
    const evs = read([
      '7 00:00:00.000001 ???( <unfinished ...>',
      '8 00:00:00.000002 munmap(0x1000, 4096) = 0',
      '7 00:00:00.000003 +++ exited with 0 +++',
    ]);
    assert.deepEqual(
      evs.map((e) => e.kind),
      ['start', 'call', 'exit'],
    );
    assert.equal((evs[0] as StartEvent).name, '???');
  });

  it('notes a named call its thread died in, and still reads the exit', () => {
    const evs = read([
      '7 00:00:00.000001 munmap(0x1000, 4096 <unfinished ...>',
      '7 00:00:00.000002 +++ killed by SIGKILL +++',
    ]);
    assert.deepEqual(
      evs.map((e) => e.kind),
      ['start', 'note', 'exit'],
    );
    assert.match((evs[1] as NoteEvent).text, /munmap of pid 7 never completed/);
  });

  it('reads an execve killed inside as no result ("= ?")', () => {
    const evs = read([
      '9 00:00:00.000001 execve("/bin/true", [...], 0x1 /* 3 vars */ <unfinished ...>',
      '9 00:00:00.000002 <... execve resumed>) = ?',
      '9 00:00:00.000003 +++ killed by SIGKILL +++',
    ]);
    const ex = evs[1] as CallEvent;
    assert.deepEqual([ex.name, ex.result, ex.errno], ['execve', null, null]);
  });

  it('reads results strace marks INJECTED or DELAYED', () => {
    const ev = call('1 00:00:00.000001 kill(1, 0) = 0 (INJECTED)');
    assert.deepEqual([ev.result, ev.errno], [0, null]);
  });
});

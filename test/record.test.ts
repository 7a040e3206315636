/*
 * Real programs recorded in the test, then replayed, as a user would run
 * them (`uvm record`, `uvm replay --check-maps`, from the build): threads
 * racing on mmap/munmap, a mapped file unlinked and a memfd, children
 * killed right after their execve, a name recorded twice, a deep
 * recursion. strace, cc and valgrind are required: a missing one fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';

const ROOT = new URL('..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/uvm.js');

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function uvm(args: string[], env?: NodeJS.ProcessEnv): Ran {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: ROOT,
    timeout: 60_000,
    env: env ?? process.env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir = '';

/** program: compile C source into DIR/NAME => its path. */
function program(name: string, source: string[], flags: string[] = []): string {
  const src = join(dir, `${name}.c`);
  writeFileSync(src, `${source.join('\n')}\n`);
  const out = join(dir, name);
  const r = spawnSync('cc', ['-O1', '-o', out, src, ...flags], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return out;
}

/** record: record `argv` as NAME under DIR/rec => the run, which must have succeeded. */
function record(name: string, argv: string[], extra: string[] = []): Ran {
  const r = uvm(['record', '--out', join(dir, 'rec'), '--name', name, ...extra, '--', ...argv]);
  assert.equal(r.status, 0, r.stderr);
  return r;
}

/** recorded: record `argv` as NAME under DIR/rec => the trace, after checking the report. */
function recorded(name: string, argv: string[], extra: string[] = []): string {
  const r = record(name, argv, extra);
  assert.match(r.stderr, /^recorded /);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  return join(dir, 'rec', `${name}.strace`);
}

/** successfulExecs: execves of PATH that returned 0 in a log, split ones (unfinished ... resumed) too. */
function successfulExecs(log: string, path: string): number {
  const pending = new Set<string>();
  let count = 0;
  for (const line of log.split('\n')) {
    const [pid, , ...rest] = line.split(/ +/);
    const call = rest.join(' ');
    if (call.startsWith(`execve("${path}"`) && call.endsWith('<unfinished ...>')) pending.add(pid);
    else if (call.startsWith(`execve("${path}"`) && call.endsWith(' = 0')) count++;
    else if (
      call.startsWith('<... execve resumed>') &&
      pending.delete(pid) &&
      call.endsWith(' = 0')
    )
      count++;
  }
  return count;
}

function files(sub: string, name: string): string[] {
  return readdirSync(join(dir, 'rec', sub)).filter((f) => f.startsWith(`${name}.`));
}

before(() => {
  for (const [tool, arg] of [
    ['script', '--version'],
    ['strace', '-V'],
    ['cc', '--version'],
    ['valgrind', '--version'],
  ])
    assert.equal(
      spawnSync(tool, [arg], { stdio: 'ignore' }).error,
      undefined,
      `${tool} is missing`,
    );
  dir = mkdtempSync(join(tmpdir(), 'uvm-rec-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('record and replay: real programs', () => {
  it('threads racing on mmap/munmap replay in an order their results allow, to their exit maps', () => {
    const prog = program(
      'race',
      [
        '#include <pthread.h>',
        '#include <sys/mman.h>',
        'static void *work(void *arg) {',
        '  for (int i = 0; i < 400; i++) {',
        '    char *p = mmap(0, 4096 * (1 + i % 7), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);',
        '    mprotect(p, 4096, PROT_READ);',
        '    munmap(p, 4096 * (1 + i % 7));',
        '  }',
        '  return arg;',
        '}',
        'int main(void) {',
        '  pthread_t t[4];',
        '  for (int i = 0; i < 4; i++) pthread_create(&t[i], 0, work, 0);',
        '  for (int i = 0; i < 4; i++) pthread_join(t[i], 0);',
        '  return 0;',
        '}',
      ],
      ['-pthread'],
    );
    const trace = recorded('race', [prog]);
    const log = readFileSync(trace, 'utf8');
    assert.match(
      log,
      /\d+ +\S+ (mmap|munmap|mprotect)\(.* <unfinished \.\.\.>\n/,
      'calls overlapped',
    );
    const r = uvm(['replay', trace, '--check-maps', '--json']);
    assert.equal(r.status, 0, r.stdout.slice(0, 2000) + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.mismatches, []);
    assert.ok(j.calls > 4 * 400 * 3);
    assert.ok(
      j.checks.length >= 1 &&
        j.checks.every((c: { differences: [] }) => c.differences.length === 0),
    );
  });

  it('a mapped file unlinked and a memfd show as (deleted), as in the real maps', () => {
    const prog = program('unlinked', [
      '#define _GNU_SOURCE',
      '#include <fcntl.h>',
      '#include <stdlib.h>',
      '#include <sys/mman.h>',
      '#include <unistd.h>',
      'int main(int argc, char **argv) {',
      '  int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);',
      '  ftruncate(fd, 3 * 4096);',
      '  char *p = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);',
      '  p[0] = 1;',
      '  unlink(argv[1]);',
      '  int kept = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);',
      '  ftruncate(kept, 4096);',
      '  mmap(0, 4096, PROT_READ, MAP_SHARED, kept, 0);',
      '  int m = memfd_create("uvmtest", 0);',
      '  ftruncate(m, 2 * 4096);',
      '  mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);',
      '  return 0;',
      '}',
    ]);
    const gone = join(dir, 'gone.dat');
    const kept = join(dir, 'kept.dat');
    const trace = recorded('unlinked', [prog, gone, kept]);
    const exit = files('exit', 'unlinked');
    assert.equal(exit.length, 1);
    const real = readFileSync(join(dir, 'rec', 'exit', exit[0]), 'utf8');
    assert.match(real, new RegExp(`${gone} \\(deleted\\)\\n`));
    assert.match(real, /\/memfd:uvmtest \(deleted\)\n/);
    const pid = exit[0].split('.')[1];
    const r = uvm(['replay', trace, '--check-maps', '--maps', pid]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^maps of ${pid} match `, 'm'));
    assert.match(r.stdout, new RegExp(` ${gone} \\(deleted\\)$`, 'm'));
    assert.match(r.stdout, new RegExp(` ${kept}$`, 'm'));
    assert.match(r.stdout, / \/memfd:uvmtest \(deleted\)$/m);
  });

  it('children killed right after their execve: no empty snapshot, a replay that goes on', () => {
    const prog = program('killer', [
      '#include <signal.h>',
      '#include <sys/wait.h>',
      '#include <time.h>',
      '#include <unistd.h>',
      'int main(void) {',
      '  for (int i = 0; i < 6; i++) {',
      '    pid_t c = fork();',
      '    if (c == 0) { execl("/bin/sleep", "sleep", "5", (char *)0); _exit(127); }',
      '    struct timespec d = {0, i * 2000000L};',
      '    nanosleep(&d, 0);',
      '    kill(c, SIGKILL);',
      '    waitpid(c, 0, 0);',
      '  }',
      '  return 0;',
      '}',
    ]);
    const rec = record('killer', [prog]);
    const trace = join(dir, 'rec', 'killer.strace');
    const log = readFileSync(trace, 'utf8');
    const pids = new Set(
      log
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split(' ')[0]),
    );
    /* a kill racing strace's PTRACE_LISTEN of a stopped child can make strace
       lose processes (a shorter log); it says so, and the report lists it */
    if (!rec.stderr.includes('\nstrace said:\n')) assert.equal(pids.size, 7, rec.stderr);
    for (const f of files('init', 'killer'))
      assert.ok(statSync(join(dir, 'rec', 'init', f)).size > 0, `${f} is empty`);
    const r = uvm(['replay', trace, '--json']);
    assert.equal(r.status, 0, r.stdout.slice(0, 2000) + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.mismatches, []);
    assert.equal(j.processes.length, pids.size, rec.stderr);
    const execs = successfulExecs(log, '/bin/sleep');
    const snapshots = files('init', 'killer').length - 1;
    assert.equal(j.snapshots.length, execs - snapshots, 'each missing snapshot is reported');
  });

  it("the program's stderr reaches the user untouched; strace's own messages are listed apart", () => {
    const prog = program('talker', [
      '#include <stdio.h>',
      '#include <unistd.h>',
      'int main(void) {',
      '  fprintf(stderr, "strace: not strace but the program\\n");',
      '  fprintf(stderr, "the program speaks\\n");',
      '  return isatty(2) ? 3 : 0;',
      '}',
    ]);
    const r = record('talker', [prog]);
    assert.equal(
      r.stderr.split('\nrecorded ')[0],
      'strace: not strace but the program\nthe program speaks',
      'the program wrote first, straight to our stderr',
    );
    assert.match(r.stderr, /\(exit status 0\)/);
    assert.doesNotMatch(r.stderr, /strace said:/);
  });

  it('a name recorded twice: the second recording is whole and alone', () => {
    const first = recorded('twice', ['/bin/true']);
    const pidsOf = () => files('exit', 'twice').concat(files('init', 'twice'));
    const before = pidsOf();
    const trace = recorded('twice', ['/bin/true']);
    assert.equal(trace, first);
    const now = pidsOf();
    assert.equal(now.length, 2);
    assert.ok(
      now.every((f) => !before.includes(f)),
      'nothing of the first recording is left',
    );
    const r = uvm(['replay', trace, '--check-maps']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('a deep recursion: the replay grows [stack] to the real exit maps, and says so', () => {
    const prog = program('deep', [
      'static int down(int n) {',
      '  volatile char frame[1024];',
      '  frame[0] = (char)n;',
      '  return n == 0 ? 0 : down(n - 1) + frame[0];',
      '}',
      'int main(void) { return down(3000) == 42; }',
    ]);
    const trace = recorded('deep', [prog]);
    const r = uvm(['replay', trace, '--check-maps']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      /stacks grown by faults no log line shows: 1\n {2}pid \d+: \[stack\] grown from 132 KiB to \d{4} KiB, as its real maps at its exit show/,
    );
  });
});

describe('record: progress', () => {
  it('shows lines, processes and maps taken on a terminal, and nothing of it elsewhere', () => {
    const out = join(dir, 'progress');
    const command = `${process.execPath} ${BIN} record --out ${out} -- /bin/sh -c 'sleep 1'`;
    const tty = spawnSync('script', ['-qec', command, '/dev/null'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(tty.status, 0, tty.stdout);
    assert.match(tty.stdout, /record: [1-9]\d* lines, 2 processes, [1-9] maps taken/);
    assert.match(tty.stdout, /recorded \/bin\/sh \(exit status 0\)/);
    const plain = uvm(['record', '--out', out, '--', '/bin/true']);
    assert.equal(plain.status, 0, plain.stderr);
    assert.ok(!plain.stderr.includes('record: '), plain.stderr);
  });
});

describe('record --mem', () => {
  it('writes the memory accesses valgrind sees, gzip-compressed, as NAME.lackey.gz', () => {
    const prog = program('touch', [
      'static char buf[8192];',
      'int main(void) { for (int i = 0; i < 8192; i += 64) buf[i] = 1; return buf[64]; }',
    ]);
    const r = uvm(['record', '--mem', '--out', join(dir, 'mem'), '--', prog]);
    assert.equal(r.status, 0, r.stderr);
    const file = join(dir, 'mem', 'touch.lackey.gz');
    assert.match(r.stderr, new RegExp(`exit status 1\\): ${file}`));
    const text = gunzipSync(readFileSync(file)).toString('utf8');
    assert.match(text, /^==\d+== Lackey/m);
    assert.match(text, /^I {2}[0-9a-f]{8,},\d+$/m);
    assert.ok((text.match(/^ S [0-9a-f]+,1$/gm) ?? []).length >= 128, 'every store of the loop');
  });

  it('says on one line that valgrind is missing, exit 2', () => {
    const r = uvm(['record', '--mem', '--out', join(dir, 'mem'), '--', '/bin/true'], {
      ...process.env,
      PATH: '/nonexistent',
    });
    assert.equal(r.status, 2);
    assert.equal(
      r.stderr,
      'uvm: uvm record --mem needs valgrind (Debian: apt-get install valgrind)\n',
    );
  });
});

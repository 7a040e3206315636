/*
 * pipe.ts: pipes and the descriptor table, the first zero-copy path
 * (NetBSD's sys_pipe.c with PIPE_LOAN, loaning through uvm_loan.c).
 *
 *   FdTable     a process's descriptors: fd -> (pipe, which end); fork
 *               copies it, close closes one, exit all
 *   Pipe        its buffer: pieces in order, each copied bytes or a whole
 *               frame on loan to the pipe (the kernel); at most PIPE_SIZE
 *               bytes (a full pipe takes what fits, as a non-blocking write)
 *
 *   write   whole, page-aligned pages of the buffer are lent (uvmLoanPage:
 *           the writer's pages become read-only, its next write to one
 *           copies it); the unaligned head and tail, and wired pages, are
 *           copied
 *   read    a lent frame meeting a whole, page-aligned page of the buffer
 *           is handed over (uvmLoanToMap: the reader's amap gets an anon
 *           borrowing it); everything else is copied
 *   close   the last descriptor of a pipe ends its loans
 *
 * Invariants (the audit, with auditLoans): the loans of the pipes reachable
 * from the processes are exactly the kernel's loans.
 */
import { uvmFault, uvmVsunlock } from '../kernel/fault.ts';
import { uvmLoanPage, uvmLoanToMap, uvmLoanToMapAllowed, uvmUnloan } from '../kernel/loan.ts';
import { NOPAGE } from '../kernel/page.ts';
import {
  type Errno,
  type Frame,
  hex,
  kpanic,
  PROT_READ,
  roundPage,
  truncPage,
  vmerr,
} from '../kernel/param.ts';
import { pteFrame } from '../kernel/pmap.ts';
import type { Uvm } from '../kernel/uvm.ts';
import type { Process } from './proc.ts';

/** A piece of a pipe's buffer: bytes [off, end) of `bytes`, or of frame `loan` (bytes null). */
interface Piece {
  loan: Frame;
  bytes: Uint8Array | null;
  off: number;
  end: number;
}

/** the most bytes a pipe buffers (NetBSD's BIG_PIPE_SIZE): lent pages are pinned */
export const PIPE_SIZE = 65536;

/** A pipe: its buffer and the descriptors open on each end. */
export class Pipe {
  readonly pieces: Piece[] = [];
  /** bytes buffered */
  size = 0;
  readers = 0;
  writers = 0;
}

/** An open descriptor: a pipe's read or write end. */
interface FileDesc {
  pipe: Pipe;
  write: boolean;
}

/** A process's descriptor table. */
export class FdTable {
  private readonly fds: (FileDesc | null)[] = [];

  /**
   * open: a descriptor for `d`, raising its end's count.
   * => the lowest free descriptor number.
   */
  open(d: FileDesc): number {
    let fd = this.fds.indexOf(null);
    if (fd < 0) fd = this.fds.length;
    this.place(fd, d);
    return fd;
  }

  /** place: d becomes descriptor fd, raising its end's count. */
  private place(fd: number, d: FileDesc): void {
    this.fds[fd] = d;
    if (d.write) d.pipe.writers++;
    else d.pipe.readers++;
  }

  /**
   * get: descriptor fd, which must be open on the end `write` says.
   * => EBADF naming `fd` otherwise.
   */
  get(fd: number, write: boolean, call: string): FileDesc {
    const d = this.lookup(fd);
    if (!d || d.write !== write)
      throw vmerr('EBADF', call, 'fd', `${fd} is not open for ${write ? 'writing' : 'reading'}`);
    return d;
  }

  /** close: close descriptor fd (close(2)). => EBADF naming `fd` when it is not open. */
  close(uvm: Uvm, fd: number): void {
    const d = this.lookup(fd);
    if (!d) throw vmerr('EBADF', 'closeFd', 'fd', `${fd} is not open`);
    this.fds[fd] = null;
    pipeClose(uvm, d);
  }

  /** lookup: the descriptor open as fd, or undefined. */
  private lookup(fd: number): FileDesc | null | undefined {
    return Number.isInteger(fd) ? this.fds[fd] : undefined;
  }

  /**
   * fork: a copy for a child (fdcopy). => the same pipes under the same
   * descriptor numbers, one more descriptor each.
   */
  fork(): FdTable {
    const t = new FdTable();
    this.fds.forEach((d, fd) => {
      if (d) t.place(fd, d);
      else t.fds[fd] = null;
    });
    return t;
  }

  /** closeAll: close every descriptor (exit). => a pipe's last one ends its loans. */
  closeAll(uvm: Uvm): void {
    for (const d of this.fds) if (d) pipeClose(uvm, d);
    this.fds.length = 0;
  }

  /** pipes: => the pipes open here (once per descriptor). */
  pipes(): Pipe[] {
    return this.fds.filter((d) => d !== null).map((d) => d.pipe);
  }
}

/** pipeClose: one descriptor of d's pipe fewer; the last one ends the pipe's loans. */
function pipeClose(uvm: Uvm, d: FileDesc): void {
  const pipe = d.pipe;
  if (d.write) pipe.writers--;
  else pipe.readers--;
  if (pipe.readers + pipe.writers > 0) return;
  uvmUnloan(
    uvm,
    pipe.pieces.filter((pc) => pc.bytes === null).map((pc) => pc.loan),
  );
  pipe.pieces.length = 0;
  pipe.size = 0;
}

/**
 * pipeOpen: a new pipe in p's table (pipe(2)).
 * => [readFd, writeFd].
 */
export function pipeOpen(p: Process): [number, number] {
  const pipe = new Pipe();
  return [p.fds.open({ pipe, write: false }), p.fds.open({ pipe, write: true })];
}

/**
 * pipeWrite: append [addr, addr+len) of p's memory to the pipe at fd
 * (write(2)), as much as fits in PIPE_SIZE; whole, page-aligned pages are
 * lent, not copied.
 * => the bytes moved. EBADF for fd; EPIPE with no read end open; EAGAIN
 *    when the pipe is full (a non-blocking write); EFAULT (nothing moved)
 *    for a buffer not all readable; ENOMEM or EIO from a fault, nothing
 *    moved. addr and len are checked by the caller.
 */
export function pipeWrite(p: Process, fd: number, addr: number, want: number): number {
  const pipe = p.fds.get(fd, true, 'writeFd').pipe;
  if (pipe.readers === 0) throw vmerr('EPIPE', 'writeFd', 'fd', `no reader on pipe ${fd}`);
  const len = Math.min(want, PIPE_SIZE - pipe.size);
  if (want > 0 && len === 0) throw vmerr('EAGAIN', 'writeFd', 'fd', `pipe ${fd} is full`);
  if (len === 0) return 0;
  const uvm = p.sys.uvm;
  const ps = uvm.pageSize;
  p.precheck(truncPage(addr, ps), addr + len, false, 'writeFd');
  const lo = Math.min(roundPage(addr, ps), addr + len);
  const hi = Math.max(lo, truncPage(addr + len, ps));
  const pieces: Piece[] = [];
  try {
    if (lo > addr) pieces.push(copied(p, addr, lo - addr));
    for (let va = lo; va < hi; va += ps) pieces.push(lent(p, va));
    if (addr + len > hi) pieces.push(copied(p, hi, addr + len - hi));
  } catch (e) {
    uvmUnloan(uvm, loansOf(pieces));
    throw e;
  }
  pipe.pieces.push(...pieces);
  pipe.size += len;
  return len;
}

/** copied: a piece holding a copy of [va, va+n) of p's memory. */
function copied(p: Process, va: number, n: number): Piece {
  return { loan: NOPAGE, bytes: p.read(va, n), off: 0, end: n };
}

/**
 * lent: a piece lending the frame of p's page at va (uvm_loan, to the
 * kernel): faulted in for reading, then every mapping made read-only; a
 * wired frame is copied instead.
 */
function lent(p: Process, va: number): Piece {
  const uvm = p.sys.uvm;
  const r = uvmFault(uvm, p.vm.map, va, PROT_READ);
  if (r !== 0) throw vmerr(faultErrno(r), 'writeFd', 'addr', `${r} at ${hex(va)}`);
  const pg = pteFrame(p.vm.pmap.lookup(va));
  if (uvm.pages.wireCount(pg) > 0) return copied(p, va, uvm.pageSize);
  uvmLoanPage(uvm, pg);
  return { loan: pg, bytes: null, off: 0, end: uvm.pageSize };
}

/** faultErrno: the errno of a failed fault (a bad address is EFAULT). */
function faultErrno(r: string): Errno {
  return r === 'ENOMEM' || r === 'EIO' || r === 'EAGAIN' ? r : 'EFAULT';
}

/** loansOf: the frames the pieces lend. */
function loansOf(pieces: readonly Piece[]): Frame[] {
  return pieces.filter((pc) => pc.bytes === null).map((pc) => pc.loan);
}

/**
 * pipeRead: move up to len buffered bytes of the pipe at fd to
 * [addr, addr+len) of p's memory (read(2)); a lent frame meeting a whole,
 * page-aligned page is handed over, not copied.
 * => the bytes moved: 0 for an empty pipe. EBADF for fd; EFAULT for a
 *    buffer not all writable, ENOMEM or EIO from a fault: then nothing
 *    moved. addr and len are checked by the caller.
 * => all or nothing: the pages that will be handed over are chosen first,
 *    every other page is made writable and held, and only then do bytes
 *    move (which cannot fail then).
 */
export function pipeRead(p: Process, fd: number, addr: number, len: number): number {
  const pipe = p.fds.get(fd, false, 'readFd').pipe;
  const n = Math.min(len, pipe.size);
  if (n === 0) return 0;
  const uvm = p.sys.uvm;
  const ps = uvm.pageSize;
  p.precheck(truncPage(addr, ps), addr + n, true, 'readFd');
  const handed = handovers(p, pipe, addr, n);
  const held = holdTargets(p, addr, n, handed);
  try {
    moveOut(p, pipe, addr, n, handed);
  } finally {
    uvmVsunlock(uvm, held);
  }
  return n;
}

/** handovers: the pages of [addr, addr+n) a read will take lent frames for, whole. */
function handovers(p: Process, pipe: Pipe, addr: number, n: number): Set<number> {
  const uvm = p.sys.uvm;
  const ps = uvm.pageSize;
  const out = new Set<number>();
  for (let i = 0, moved = 0; moved < n; i++) {
    const pc = pipe.pieces[i];
    const va = addr + moved;
    const k = Math.min(pc.end - pc.off, n - moved);
    const whole = pc.bytes === null && pc.off === 0 && va % ps === 0 && k === ps;
    if (whole && uvmLoanToMapAllowed(uvm, p.vm.map, va)) out.add(va);
    moved += k;
  }
  return out;
}

/**
 * holdTargets: make the pages of [addr, addr+n) not in `handed` writable
 * and hold them (Process.holdWritable, run by run).
 * => the held frames; on a failure nothing is held and the error thrown.
 */
function holdTargets(p: Process, addr: number, n: number, handed: Set<number>): Frame[] {
  const ps = p.sys.uvm.pageSize;
  const held: Frame[] = [];
  try {
    for (let va = truncPage(addr, ps); va < addr + n; ) {
      if (handed.has(va)) {
        va += ps;
        continue;
      }
      let end = va + ps;
      while (end < addr + n && !handed.has(end)) end += ps;
      held.push(...p.holdWritable(va, end, 'readFd'));
      va = end;
    }
  } catch (e) {
    uvmVsunlock(p.sys.uvm, held);
    throw e;
  }
  return held;
}

/** moveOut: move n bytes of the pipe to addr: the chosen pages handed over, the rest copied. */
function moveOut(p: Process, pipe: Pipe, addr: number, n: number, handed: Set<number>): void {
  const uvm = p.sys.uvm;
  for (let moved = 0; moved < n; ) {
    const pc = pipe.pieces[0];
    const va = addr + moved;
    const give = handed.has(va);
    if (give && !uvmLoanToMap(uvm, p.vm.map, va, pc.loan))
      kpanic(`pipe read: the hand-over at ${hex(va)} was refused after it was chosen`);
    const k = give ? uvm.pageSize : copyOut(p, pc, va, n - moved);
    pc.off += k;
    moved += k;
    pipe.size -= k;
    if (pc.off < pc.end) continue;
    pipe.pieces.shift();
    if (pc.bytes === null && !give) uvmUnloan(uvm, [pc.loan]);
  }
}

/** copyOut: copy up to `max` bytes of piece pc to p's memory at va => the bytes copied. */
function copyOut(p: Process, pc: Piece, va: number, max: number): number {
  const k = Math.min(pc.end - pc.off, max);
  const ps = p.sys.uvm.pageSize;
  const from = pc.bytes ?? p.sys.uvm.pages.bytes.subarray(pc.loan * ps, (pc.loan + 1) * ps);
  p.write(va, from.slice(pc.off, pc.off + k));
  return k;
}

/**
 * pipeLoans: the kernel's loans held by the pipes open in `procs`, for
 * auditLoans.
 * => per frame, the loans (each pipe counted once).
 */
export function pipeLoans(npages: number, procs: Iterable<Process>): Int32Array {
  const held = new Int32Array(npages);
  const seen = new Set<Pipe>();
  for (const p of procs)
    for (const pipe of p.fds.pipes()) {
      if (seen.has(pipe)) continue;
      seen.add(pipe);
      for (const pg of loansOf(pipe.pieces)) held[pg]++;
    }
  return held;
}

/*
 * proc.ts: processes: a pid, an address space, and the calls a program
 * makes on its memory.
 *
 *   Process
 *     vm        its Vmspace (shared with its threads and a vfork parent)
 *     read/write   through the pmap, as an MMU: a missing or too weak
 *                  translation calls the fault handler, then the access
 *                  retries; referenced/modified bits are set per frame
 *     fork      a new space by inheritance (vmspaceFork)
 *     vfork     shares this space until the child execs or exits
 *     exec      a fresh space from /proc/PID/maps rows (or a resident
 *               executable's snapshot)
 *     exit      drops the space (the last user frees it), closes its fds
 *     fds       its descriptor table: pipes (pipe.ts), inherited by fork
 *     mmap ...  the system calls of mmap.ts on its space
 *     upcRegister, upcControl   upcalls (upcall.ts), delivered by userret
 *               at the end of each system call and memory access
 */
import { uvmFault, uvmHold, uvmReserve, uvmVsunlock } from '../kernel/fault.ts';
import {
  allows,
  entryContains,
  VM_FAULT_BURST,
  VM_FAULT_DIRTY,
  vmMapCanGrowstack,
  vmMapGrowstack,
  vmMapLookupEntry,
} from '../kernel/map/index.ts';
import { PMAP_MODIFIED, PMAP_REFERENCED, pageUnwire } from '../kernel/page.ts';
import {
  type Frame,
  hex,
  kpanic,
  PROT_READ,
  PROT_WRITE,
  truncPage,
  USER_MAX,
  USER_MIN,
  VmError,
  vmerr,
} from '../kernel/param.ts';
import { PTE_R, PTE_W, PTE_X, pteFrame } from '../kernel/pmap.ts';
import {
  postupcall,
  type UpcallFrame,
  type UpcallLwp,
  upcControl,
  upcRegister,
  upcRelease,
} from '../kernel/upcall.ts';
import {
  type Vmspace,
  vmspaceFork,
  vmspaceFree,
  vmspacePss,
  vmspaceRef,
} from '../kernel/vmspace.ts';
import type { MappableFile } from '../kernel/vnode.ts';
import {
  type Num,
  sysBrk,
  sysMadvise,
  sysMincore,
  sysMinherit,
  sysMlock,
  sysMlockall,
  sysMmap,
  sysMprotect,
  sysMremap,
  sysMsync,
  sysMunlock,
  sysMunlockall,
  sysMunmap,
} from './mmap.ts';
import { Mmu } from './mmu.ts';
import { FdTable, pipeOpen, pipeRead, pipeWrite } from './pipe.ts';
import { formatMapsRow, isFileName, type MapsRow, mapsRows, parseMapsRow } from './procmaps.ts';
import type { VmSystem } from './system.ts';

/** util.inspect's hook (Node's well-known symbol; no Node module is imported for it) */
export const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** A process. */
export class Process implements UpcallLwp {
  alive = true;
  /** the descriptor table (pipes) */
  fds = new FdTable();
  private fast: Mmu | null = null;
  /** lwp_upcall: the address of its struct upcall (0: none registered) */
  upcall = 0;
  /** P_UPCALLPEND: an upcall was dispatched to it; userret delivers it */
  upcallPend = false;
  /** the upcalls delivered to it, oldest first */
  readonly upcallsDelivered: UpcallFrame[] = [];

  constructor(
    readonly sys: VmSystem,
    readonly pid: number,
    public vm: Vmspace,
    /** the parent's pid, 0 for none (a pid, not the process: dead ancestors must not stay reachable) */
    readonly ppid: number,
  ) {}

  private tick(): void {
    this.sys.uvm.ticks++;
  }

  private check(): void {
    if (!this.alive) throw vmerr('ESRCH', 'process', 'pid', `process ${this.pid} has exited`);
    this.tick();
  }

  /* ---- memory access ---------------------------------------------------- */

  /**
   * mmu: the fast access path (typed reads and writes through a software
   * TLB, for emulators); made at first use.
   */
  get mmu(): Mmu {
    this.fast ??= new Mmu(this);
    return this.fast;
  }

  /**
   * read: `n` bytes from virtual address `va`, through the pmap.
   * => EFAULT (signal SIGSEGV) when a page is not mapped or not readable,
   *    ENOMEM when memory runs out, EFAULT (SIGBUS) past a file's end;
   *    nothing is read then.
   */
  read(va: number, n: number): Uint8Array {
    this.check();
    checkAccess('read', va, n);
    const out = new Uint8Array(n);
    try {
      this.access(va, n, false, out);
    } catch (e) {
      throw this.sys.survive(e);
    } finally {
      this.userret();
    }
    return out;
  }

  /**
   * write: store `bytes` at virtual address `va`, through the pmap.
   * => errors as read (SIGSEGV also for a read-only page); every page is
   *    made present before any byte is written, so a failed write stores
   *    nothing.
   */
  write(va: number, bytes: Uint8Array | ArrayLike<number>): void {
    this.check();
    const data = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
    checkAccess('write', va, data.length);
    try {
      this.access(va, data.length, true, data);
    } catch (e) {
      throw this.sys.survive(e);
    } finally {
      this.userret();
    }
  }

  /**
   * copyin: the kernel reads n bytes of this process's memory at va (as
   * read, without a return to user); null when it cannot (EFAULT).
   */
  copyin(va: number, n: number): Uint8Array | null {
    const out = new Uint8Array(n);
    return this.kernelAccess(va, out, false) ? out : null;
  }

  /**
   * copyout: the kernel stores bytes at va in this process's memory (as
   * write); false, nothing stored, when it cannot (EFAULT).
   */
  copyout(va: number, bytes: Uint8Array): boolean {
    return this.kernelAccess(va, bytes, true);
  }

  /** kernelAccess: copyin or copyout; false for a VmError (nothing moved, but past memory: see access). */
  private kernelAccess(va: number, buf: Uint8Array, write: boolean): boolean {
    try {
      checkAccess(write ? 'copyout' : 'copyin', va, buf.length);
      this.access(va, buf.length, write, buf);
      return true;
    } catch (e) {
      if (e instanceof VmError) return false;
      throw e;
    }
  }

  /**
   * userret: the return to user after a system call or a memory access:
   * an upcall dispatched to this process is delivered (postupcall).
   */
  private userret(): void {
    if (this.upcallPend && this.alive) postupcall(this);
  }

  /**
   * access: move bytes between `buf` and [va, va+n): first make every page
   * present and hold its frame, then (for a write) make every page
   * writable, then copy: a failed access moves no byte and leaves nothing
   * another access could see (no private copy of a file page taken).
   * => a range of more pages than memory could ever hold at once (its
   *    frames less the wired ones and the daemon's reserve) is faulted in
   *    page by page first (so that a bad page or a lack of memory is found
   *    before any byte moves), then copied page by page, faulting again
   *    where the pagedaemon took a page meanwhile; only an error in that
   *    second pass can leave it half done, and its VmError then says how
   *    many bytes had moved (`moved`, from va), as a short write would.
   */
  private access(va: number, n: number, write: boolean, buf: Uint8Array): void {
    if (n === 0) return;
    const uvm = this.sys.uvm;
    const ps = uvm.pageSize;
    const first = truncPage(va, ps);
    const syscall = write ? 'write' : 'read';
    if (va + n <= first + ps) {
      /* one page: a valid translation needs no map lookup (the TLB hit) */
      let pte = this.vm.pmap.lookup(first);
      if (pte === 0 || !(pte & (write ? PTE_W : PTE_R | PTE_W | PTE_X))) {
        this.precheck(first, va + n, write, syscall);
        pte = this.fault(first, write, syscall);
      }
      this.copy(pteFrame(pte), first, va, n, write, buf);
      return;
    }
    this.precheck(first, va + n, write, syscall);
    const pm = uvm.pages;
    if (Math.ceil((va + n - first) / ps) > pm.npages - uvm.exp.wired - uvm.freemin) {
      for (let p = first; p < va + n; p += ps) this.present(p, write, syscall);
      for (let p = first; p < va + n; p += ps)
        this.copy(
          pteFrame(this.present(p, write, syscall, Math.max(0, p - va))),
          p,
          va,
          n,
          write,
          buf,
        );
      return;
    }
    const held = write
      ? this.holdWritable(first, va + n, syscall)
      : this.hold(first, va + n, syscall);
    try {
      for (let i = 0; i < held.length; i++) this.copy(held[i], first + i * ps, va, n, write, buf);
    } finally {
      uvmVsunlock(uvm, held);
    }
  }

  /**
   * holdWritable: make each page of [start, end) present and writable and
   * hold its frame, as a write does before its first byte moves; release
   * with uvmVsunlock. A range larger than memory is the caller's to split.
   * => the held frames, in order; on a failure nothing is held and the
   *    error thrown.
   */
  holdWritable(start: number, end: number, syscall: string): Frame[] {
    const held = this.hold(start, end, syscall);
    try {
      this.makeWritable(start, held, syscall);
    } catch (e) {
      uvmVsunlock(this.sys.uvm, held);
      throw e;
    }
    return held;
  }

  /**
   * hold: make each page of [start, end) present for reading and hold its
   * frame (uvmHold, as uvm_vslock does), so that the fault of a later page
   * cannot page an earlier one out. A read fault takes no private copy.
   * => the held frames, in order; on a failure every hold is released and
   *    the error thrown.
   */
  private hold(start: number, end: number, syscall: string): Frame[] {
    const uvm = this.sys.uvm;
    const held: Frame[] = [];
    try {
      for (let p = start; p < end; p += uvm.pageSize) this.holdPage(held, p, syscall);
    } catch (e) {
      uvmVsunlock(uvm, held);
      throw e;
    }
    return held;
  }

  /** holdPage: make page p present for reading and hold its frame on `held`. */
  private holdPage(held: Frame[], p: number, syscall: string): void {
    const pg = pteFrame(this.present(p, false, syscall));
    if (!uvmHold(this.sys.uvm, pg))
      throw new VmError('EAGAIN', syscall, 'va', `the page at ${hex(p)} is wired too often`);
    held.push(pg);
  }

  /**
   * makeWritable: the write faults of held pages starting at `start`: the
   * frames their copies will take are reserved first (ENOMEM, nothing
   * changed, when the pagedaemon cannot free them), so none can fail
   * after another copied; a page a fault replaced is held instead.
   */
  private makeWritable(start: number, held: Frame[], syscall: string): void {
    const uvm = this.sys.uvm;
    const ps = uvm.pageSize;
    const pmap = this.vm.pmap;
    let copies = 0;
    for (let i = 0; i < held.length; i++) if (!(pmap.lookup(start + i * ps) & PTE_W)) copies++;
    if (!uvmReserve(uvm, copies))
      throw new VmError('ENOMEM', syscall, 'va', `out of memory at ${hex(start)}`);
    for (let i = 0; i < held.length; i++) {
      const pg = pteFrame(this.present(start + i * ps, true, syscall));
      if (pg === held[i]) continue;
      /* a fresh copy: wired at most once (by a fault in a wired entry) */
      if (!uvmHold(uvm, pg)) kpanic(`makeWritable: fresh page ${pg} wired too often`);
      pageUnwire(uvm, held[i]);
      held[i] = pg;
    }
  }

  /** copy: the part of [va, va+n) in the page at p (frame pg) to or from buf. */
  private copy(pg: number, p: number, va: number, n: number, write: boolean, buf: Uint8Array) {
    const ps = this.sys.uvm.pageSize;
    const bytes = this.sys.uvm.pages.bytes;
    const lo = Math.max(p, va);
    const len = Math.min(p + ps, va + n) - lo;
    const at = pg * ps + (lo - p);
    const off = lo - va;
    if (len <= SMALL_COPY) {
      if (write) for (let i = 0; i < len; i++) bytes[at + i] = buf[off + i];
      else for (let i = 0; i < len; i++) buf[off + i] = bytes[at + i];
    } else if (write) bytes.set(buf.subarray(off, off + len), at);
    else buf.set(bytes.subarray(at, at + len), off);
    this.sys.uvm.pages.attrs[pg] |= write ? PMAP_REFERENCED | PMAP_MODIFIED : PMAP_REFERENCED;
  }

  /**
   * precheck: every page of [start, end) is mapped, or is stack that can
   * grow there, with the right, so that a bad access changes nothing; then
   * the stack grows where it must (the pipes check their buffers so too).
   */
  precheck(start: number, end: number, write: boolean, syscall: string): void {
    const map = this.vm.map;
    const need = write ? PROT_WRITE : PROT_READ;
    /* made only when a stack must grow: no allocation per fault */
    let grow: number[] | null = null;
    for (let p = start; p < end; ) {
      const e = vmMapLookupEntry(map, p);
      if (entryContains(map, e, p)) {
        if (!allows(e.protection, need)) throw segv(syscall, p, 'protection');
        p = e.end;
        continue;
      }
      if (!vmMapCanGrowstack(map, p, this.vm)) throw segv(syscall, p, 'not mapped');
      if (!allows(e.next.protection, need)) throw segv(syscall, p, 'protection');
      if (grow === null) grow = [];
      grow.push(p);
      p = e.next.start;
    }
    if (grow !== null) for (const p of grow) vmMapGrowstack(map, p, this.vm);
  }

  /** present: the PTE for page va with the needed right, faulting if need be (`moved`: see fault). */
  private present(va: number, write: boolean, syscall: string, moved = 0): number {
    const pte = this.vm.pmap.lookup(va);
    if (pte !== 0 && pte & (write ? PTE_W : PTE_R | PTE_W | PTE_X)) return pte;
    return this.fault(va, write, syscall, moved);
  }

  /**
   * fault: take the fault an access at va raises; returns the PTE it
   * leaves. `moved`: the bytes the access had moved before (its error says so).
   */
  private fault(va: number, write: boolean, syscall: string, moved = 0): number {
    const r = uvmFault(
      this.sys.uvm,
      this.vm.map,
      va,
      write ? PROT_WRITE : PROT_READ,
      userFault(write),
    );
    if (r !== 0) throw faultError(r, syscall, va, moved);
    return this.vm.pmap.lookup(va);
  }

  /* ---- the mmap family -------------------------------------------------- */

  /** mmap: see sysMmap. `file` takes the place of the descriptor. */
  mmap(
    addr: Num,
    len: Num,
    prot: number,
    flags: number,
    file: MappableFile | null = null,
    offset: Num = 0,
  ): number {
    return this.syscall(() => sysMmap(this.vm, addr, len, prot, flags, file, offset));
  }
  munmap(addr: Num, len: Num): void {
    this.syscall(() => sysMunmap(this.vm, addr, len));
  }
  mprotect(addr: Num, len: Num, prot: number): void {
    this.syscall(() => sysMprotect(this.vm, addr, len, prot));
  }
  minherit(addr: Num, len: Num, inherit: number): void {
    this.syscall(() => sysMinherit(this.vm, addr, len, inherit));
  }
  /** madvise: see sysMadvise; `value` goes with MADV_SETMAP only. */
  madvise(addr: Num, len: Num, advice: number, value?: number): void {
    this.syscall(() => sysMadvise(this.vm, addr, len, advice, value));
  }
  mlock(addr: Num, len: Num): void {
    this.syscall(() => sysMlock(this.vm, addr, len));
  }
  munlock(addr: Num, len: Num): void {
    this.syscall(() => sysMunlock(this.vm, addr, len));
  }
  mlockall(flags: number): void {
    this.syscall(() => sysMlockall(this.vm, flags));
  }
  munlockall(): void {
    this.syscall(() => sysMunlockall(this.vm));
  }
  msync(addr: Num, len: Num, flags: number): void {
    this.syscall(() => sysMsync(this.vm, addr, len, flags));
  }
  mincore(addr: Num, len: Num): Uint8Array {
    return this.syscall(() => sysMincore(this.vm, addr, len));
  }
  brk(addr: Num): number {
    return this.syscall(() => sysBrk(this.vm, addr));
  }
  mremap(oldAddr: Num, oldLen: Num, newLen: Num, flags: number, newAddr: Num = 0): number {
    return this.syscall(() => sysMremap(this.vm, oldAddr, oldLen, newLen, flags, newAddr));
  }

  /** upcRegister: register an upcall (upcall.ts upcRegister); returns its id. */
  upcRegister(upc: number, ctx: number, func: number, data: number): number {
    return this.syscall(() => upcRegister(this, upc, ctx, func, data));
  }
  /** upcControl: an upcall command (upcall.ts upcControl) on this process's space. */
  upcControl(cmd: number, upcid: number, data = 0): number {
    return this.syscall(() => upcControl(this, cmd, upcid, data));
  }

  /** shmat: attach System V segment `id` (at `addr`, or where there is room). */
  shmat(id: number, addr = 0): number {
    return this.syscall(() => this.sys.shm.shmat(this.vm, id, addr));
  }
  /** shmdt: detach the segment attached at `addr`. */
  shmdt(addr: number): void {
    this.syscall(() => this.sys.shm.shmdt(this.vm, addr));
  }

  /* ---- pipes ------------------------------------------------------------ */

  /** pipe: a new pipe => [readFd, writeFd] (pipe(2); pipe.ts). */
  pipe(): [number, number] {
    return this.syscall(() => pipeOpen(this));
  }

  /**
   * writeFd: write [addr, addr+len) to pipe descriptor fd => the bytes
   * moved (what fits in the pipe); whole, page-aligned pages are lent to
   * the pipe, not copied.
   * => EBADF for fd, EFAULT for the buffer, EPIPE with no reader, EAGAIN
   *    for a full pipe; nothing moved.
   */
  writeFd(fd: number, addr: number, len: number): number {
    return this.syscall(() => {
      checkAccess('writeFd', addr, len);
      return pipeWrite(this, fd, addr, len);
    });
  }

  /**
   * readFd: read up to len bytes of pipe descriptor fd into [addr,
   * addr+len) => the bytes moved (0: the pipe is empty); lent pages meeting
   * whole, page-aligned pages are handed over, not copied.
   * => EBADF for fd, EFAULT for the buffer; nothing moved.
   */
  readFd(fd: number, addr: number, len: number): number {
    return this.syscall(() => {
      checkAccess('readFd', addr, len);
      return pipeRead(this, fd, addr, len);
    });
  }

  /** closeFd: close descriptor fd; a pipe's last descriptor ends its loans. => EBADF. */
  closeFd(fd: number): void {
    this.syscall(() => this.fds.close(this.sys.uvm, fd));
  }

  /* ---- process life ----------------------------------------------------- */

  /**
   * fork: a child with a copy of this address space, entry by entry by
   * inheritance; copy-on-write makes it lazy.
   * => ENOMEM (no child) if copying wired memory runs out of frames.
   */
  fork(): Process {
    const vm = this.syscall(() => vmspaceFork(this.vm));
    this.sys.uvm.exp.forks++;
    const child = this.sys.adopt(vm, this.pid);
    child.fds = this.fds.fork();
    return child;
  }

  /**
   * vfork: a child sharing this address space (a vfork child, or a thread
   * made with CLONE_VM) until it execs or exits.
   */
  vfork(): Process {
    this.syscall(() => vmspaceRef(this.vm));
    this.sys.uvm.exp.forks_sharevm++;
    const child = this.sys.adopt(this.vm, this.pid);
    child.fds = this.fds.fork();
    return child;
  }

  /**
   * exec: replace the address space by one built from /proc/PID/maps rows
   * (a fresh process image), or, when an executable of that path is
   * registered as resident, by a copy of its snapshot.
   * => file rows map their file (a stand-in of the right size when it
   *    cannot be opened); [heap] sets the break; [stack] is a growable
   *    stack; other [names] are small special mappings; rows beyond the
   *    user range are ignored.
   * => a vfork child stops sharing its parent's space here.
   * => the lock and stack limits stay the process's, as POSIX keeps them.
   * => EINVAL (nothing changed) for a malformed row, naming its line.
   */
  exec(rows: string[] | MapsRow[], identity?: string): void {
    this.syscall(() => {
      const parsed = rows.map((r, i) => (typeof r === 'string' ? parseMapsRow(r, i + 1) : r));
      const path = identity ?? parsed.find((r) => isFileName(r.name))?.name ?? '';
      const resident = path ? this.sys.residents.lookup(path) : undefined;
      const vm = resident
        ? this.sys.residents.forkFrom(resident)
        : this.sys.buildSpace(parsed, this.vm);
      vm.memlockLimit = this.vm.memlockLimit;
      vm.stackLimit = this.vm.stackLimit;
      const old = this.vm;
      upcRelease(old, this);
      this.upcall = 0;
      this.upcallPend = false;
      this.vm = vm;
      vmspaceFree(old);
    });
    this.sys.uvm.exp.execs++;
  }

  /**
   * exit: end the process; its space goes with its last user.
   */
  exit(): void {
    this.syscall(() => {
      this.alive = false;
      this.sys.processes.delete(this.pid);
      this.fds.closeAll(this.sys.uvm);
      upcRelease(this.vm, this);
      vmspaceFree(this.vm);
      this.sys.shm.sweep();
    });
    this.sys.uvm.exp.exits++;
  }

  /**
   * syscall: run a call on this process: ESRCH once it has exited; a
   * KernelPanic escaping the call leaves no lock held (VmSystem.survive);
   * the return to user (userret) follows, failed or not.
   */
  private syscall<T>(call: () => T): T {
    this.check();
    try {
      return call();
    } catch (e) {
      throw this.sys.survive(e);
    } finally {
      this.userret();
    }
  }

  /**
   * maps: one string per map entry, in /proc/PID/maps format.
   */
  maps(): string[] {
    return mapsRows(this.vm).map(formatMapsRow);
  }

  /** rss: resident pages of this process's space. */
  get rss(): number {
    return this.vm.pmap.residentCount;
  }

  /** how console.log and util.inspect show a process: a line, not the kernel behind it */
  [INSPECT](): string {
    const state = this.alive
      ? `${this.vm.map.nentries} entries, ${this.rss} pages resident`
      : 'exited';
    return `Process ${this.pid} (parent ${this.ppid}): ${state}`;
  }

  /** pss: proportional resident pages (each shared page counted 1/N). */
  get pss(): number {
    return vmspacePss(this.vm);
  }
}

/** checkAccess: va and n must be non-negative integers inside the user range. */
function checkAccess(call: string, va: number, n: number): void {
  if (!Number.isSafeInteger(va) || va < 0)
    throw vmerr('EINVAL', call, 'va', `${va} is not an address`);
  if (!Number.isSafeInteger(n) || n < 0) throw vmerr('EINVAL', call, 'n', `${n} is not a length`);
  if (n > 0 && (va < USER_MIN || va + n > USER_MAX)) throw segv(call, va, 'outside the user range');
}

/**
 * userFault: the VM_FAULT_* flags of the fault a program's access raises,
 * as DragonFly's trap passes them: BURST, and DIRTY for a write.
 */
function userFault(write: boolean): number {
  return write ? VM_FAULT_BURST | VM_FAULT_DIRTY : VM_FAULT_BURST;
}

/** copies up to this many bytes go byte by byte (cheaper than a subarray) */
const SMALL_COPY = 32;

/** segv: the error of an access the MMU refuses. */
function segv(call: string, va: number, why: string): VmError {
  return new VmError('EFAULT', call, 'va', `SIGSEGV at ${hex(va)} (${why})`, 'SIGSEGV', va);
}

/** faultError: a failed fault as the error the access reports (after `moved` bytes). */
function faultError(r: string, call: string, va: number, moved = 0): VmError {
  if (r === 'SIGBUS')
    return new VmError(
      'EFAULT',
      call,
      'va',
      `SIGBUS at ${hex(va)} (beyond the end of the file)`,
      'SIGBUS',
      va,
      moved,
    );
  if (r === 'ENOMEM')
    return new VmError('ENOMEM', call, 'va', `out of memory at ${hex(va)}`, undefined, va, moved);
  if (r === 'EIO')
    return new VmError('EIO', call, 'va', `I/O error paging in ${hex(va)}`, 'SIGBUS', va, moved);
  if (r === 'EAGAIN')
    return new VmError('EAGAIN', call, 'va', `the page at ${hex(va)} is wired too often`);
  return segv(call, va, r === 'EACCES' ? 'protection' : 'not mapped');
}

/*
 * node/host.ts: the real file system, for the kernel running in Node.
 * Synchronous I/O (the kernel is synchronous): readSync/writeSync on a
 * descriptor held open.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { FaultInjector, type Host, type HostFile } from '../kernel/host.ts';

class NodeFile implements HostFile {
  readonly faults = new FaultInjector();
  readonly inode: number;

  constructor(
    readonly path: string,
    private readonly fd: number,
  ) {
    this.inode = fstatSync(fd).ino;
  }

  size(): number {
    return fstatSync(this.fd).size;
  }

  read(offset: number, dst: Uint8Array): number {
    if (this.faults.takeRead()) return -1;
    try {
      let done = 0;
      while (done < dst.length) {
        const n = readSync(this.fd, dst, done, dst.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    } catch {
      return -1;
    }
  }

  write(offset: number, src: Uint8Array): boolean {
    if (this.faults.takeWrite()) return false;
    try {
      let done = 0;
      while (done < src.length)
        done += writeSync(this.fd, src, done, src.length - done, offset + done);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The real file system. */
export class NodeHost implements Host {
  open(path: string, writable: boolean): HostFile | null {
    try {
      if (!statSync(path).isFile()) return null;
      return new NodeFile(path, openSync(path, writable ? 'r+' : 'r'));
    } catch {
      return null;
    }
  }

  createSwap(path: string, bytes: number): HostFile {
    const fd = openSync(path, 'w+');
    const file = new NodeFile(path, fd);
    if (bytes > 0) file.write(bytes - 1, new Uint8Array(1));
    return file;
  }

  remove(path: string): void {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}

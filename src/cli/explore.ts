/*
 * cli/explore.ts: `uvm explore [--port N]`: serve the explorer (the static
 * files `npm run build` puts in dist/explorer/) on 127.0.0.1 only, print
 * its URL, and stop on Ctrl-C (SIGINT) or SIGTERM.
 *
 * The page runs the library itself: once loaded it needs the server no
 * more. Only the page's own files are served; anything else is 404.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import type { Io } from './main.ts';
import { UsageError } from './usage.ts';

/** where the built page lives (dist/explorer/, beside src/ and dist/ alike) */
export const EXPLORER_DIR = fileURLToPath(new URL('../../dist/explorer/', import.meta.url));

/** the only host the explorer listens on */
export const EXPLORE_HOST = '127.0.0.1';

/** the port `uvm explore` takes when none is given */
export const EXPLORE_PORT = 8123;

const FILES: Record<string, [string, string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/explorer.js': ['explorer.js', 'text/javascript; charset=utf-8'],
  '/explorer.css': ['explorer.css', 'text/css; charset=utf-8'],
};

/**
 * explore: serve the explorer on 127.0.0.1:port (0: any free port) and
 * print its URL on io.out.
 * => resolves when the server stops (SIGINT or SIGTERM).
 * => throws UsageError when the page is not built or the port is taken.
 */
export async function explore(port: number, io: Io): Promise<void> {
  if (!existsSync(`${EXPLORER_DIR}index.html`))
    throw new UsageError(`the explorer is not built (no ${EXPLORER_DIR}): run npm run build`);
  const server = createServer(serve);
  await listen(server, port);
  const addr = server.address();
  const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
  io.out(`http://${EXPLORE_HOST}:${bound}/\n`);
  await untilSignal(server);
}

/** serve: one of the page's files, or 404. */
function serve(req: IncomingMessage, res: ServerResponse): void {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const file = FILES[path];
  if (file === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const body = readFileSync(`${EXPLORER_DIR}${file[0]}`);
  res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-cache' });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** listen: bind 127.0.0.1:port => UsageError when the port cannot be had. */
function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new UsageError(`cannot listen on ${EXPLORE_HOST}:${port}: ${e.code ?? e.message}`)),
    );
    server.listen(port, EXPLORE_HOST, () => resolve());
  });
}

/** untilSignal: close the server on SIGINT or SIGTERM => resolves once it is closed. */
function untilSignal(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** port: a --port value: 0 (any free port) to 65535. */
export function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new InvalidArgumentError(`${value} is not a port (0 to 65535; 0: any free one)`);
  return n;
}

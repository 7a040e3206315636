/*
 * cli/usage.ts: the errors the command reports by exit status, and the
 * reading of its input files.
 *
 *   UsageError: the command line or its input files are wrong (exit 2)
 *   CheckFailed: the run went through but a check failed (exit 1)
 */

import { readFileSync } from 'node:fs';
import { PD_POLICIES } from '../kernel/pdpolicy/index.ts';

/** Bad usage: a missing or unreadable argument, a bad option value. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A run that completed and found differences; its report is printed already. */
export class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
}

/**
 * readInput: the text of an input file named on the command line.
 * => throws UsageError naming the file (and `what` it is) when it cannot be read.
 */
export function readInput(file: string, what?: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new UsageError(`cannot read ${what ? `the ${what} ` : ''}${file}: ${code}`);
  }
}

/**
 * checkPolicy: `name` names a page replacement policy (--policy).
 * => throws UsageError listing the policies there are.
 */
export function checkPolicy(name: string): void {
  if (!Object.hasOwn(PD_POLICIES, name))
    throw new UsageError(
      `--policy: no policy ${name} (there are: ${Object.keys(PD_POLICIES).join(', ')})`,
    );
}

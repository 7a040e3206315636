/*
 * cli/usage.ts: the errors the command reports by exit status.
 *
 *   UsageError: the command line or its input files are wrong (exit 2)
 *   CheckFailed: the run went through but a check failed (exit 1)
 */

/** Bad usage: a missing or unreadable argument, a bad option value. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A run that completed and found differences; its report is printed already. */
export class CheckFailed extends Error {
  override readonly name = 'CheckFailed';
}

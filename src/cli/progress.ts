/*
 * cli/progress.ts: the progress line long commands draw on a terminal
 * (record, replay, pdsim), on stderr, cleared when done.
 */
import { SingleBar } from 'cli-progress';

/**
 * progressBar: a bar drawn with `format` (cli-progress's tokens: {bar},
 * {percentage}, and the payload's names).
 * => the caller draws it only when stderr is a terminal.
 */
export function progressBar(format: string): SingleBar {
  return new SingleBar({
    format,
    stream: process.stderr,
    noTTYOutput: false,
    clearOnComplete: true,
  });
}

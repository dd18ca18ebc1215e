import { MultiBar, Presets, type SingleBar } from 'cli-progress';

/** What classify reports as it goes: files uploaded and images answered, and log lines. */
export interface ClassifyProgress {
  start(total: number, uploaded: number): void;
  uploaded(count: number): void;
  answered(count: number): void;
  log(line: string): void;
  stop(): void;
}

/**
 * Two bars on stderr (stdout may carry the export): uploaded and answered.
 * On a terminal they redraw in place; otherwise a line every few seconds.
 */
export class TerminalProgress implements ClassifyProgress {
  private readonly bars: MultiBar;
  private up?: SingleBar;
  private done?: SingleBar;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.bars = new MultiBar(
      { format: '{what} {bar} {value}/{total}', stream, hideCursor: true, noTTYOutput: true, notTTYSchedule: 5000, emptyOnZero: true },
      Presets.shades_classic,
    );
  }

  start(total: number, uploaded: number): void {
    this.up = this.bars.create(total, uploaded, { what: 'uploaded' });
    this.done = this.bars.create(total, 0, { what: 'answered' });
  }

  uploaded(count: number): void {
    this.up?.update(count);
  }

  answered(count: number): void {
    this.done?.update(count);
  }

  log(line: string): void {
    if (this.bars.isActive && this.stream.isTTY) this.bars.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }

  stop(): void {
    this.bars.stop();
  }
}

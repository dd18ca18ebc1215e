/** A failure that holds for a while: the edge cut, S3 browned out, EC2 throttling. */
export interface FaultWindow {
  name: string;
  /** When it begins, ms after the load starts. */
  atMs: number;
  /** How long it holds, ms (0: never). */
  forMs: number;
  begin(): void;
  end(): void;
}

/**
 * The run's timed failures: each begins when its time comes and ends when
 * its span is over (or when the run ends, whichever is first), exactly once.
 * Driven by the run's own clock through tick(now), so a test needs none.
 */
export class FaultWindows {
  private readonly began = new Map<string, number>();
  private readonly ended = new Map<string, number>();
  private over = false;

  constructor(
    private readonly windows: FaultWindow[],
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Begins and ends what is due at `now` (ms since the load started). */
  tick(now: number): void {
    if (this.over) return;
    for (const w of this.windows) {
      if (w.forMs <= 0 || this.ended.has(w.name)) continue;
      if (!this.began.has(w.name) && now >= w.atMs) {
        this.began.set(w.name, now);
        w.begin();
        this.log(`${w.name}: begins for ${w.forMs / 1000} s`);
      }
      const from = this.began.get(w.name);
      if (from !== undefined && now >= from + w.forMs) this.close(w, now);
    }
  }

  /** Ends every window still holding; none begins after this (the run is over). */
  endAll(now: number): void {
    this.over = true;
    for (const w of this.windows) if (this.began.has(w.name) && !this.ended.has(w.name)) this.close(w, now);
  }

  /** Seconds each window held, by name (0 for one that never began). */
  heldSeconds(): Record<string, number> {
    return Object.fromEntries(
      this.windows.map((w) => {
        const from = this.began.get(w.name);
        const to = this.ended.get(w.name);
        return [w.name, from === undefined || to === undefined ? 0 : Math.round((to - from) / 100) / 10];
      }),
    );
  }

  private close(w: FaultWindow, now: number): void {
    this.ended.set(w.name, now);
    w.end();
    this.log(`${w.name}: over`);
  }
}

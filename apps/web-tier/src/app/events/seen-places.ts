/** Longest id read back (a header of a few KB): enough for a bitmap of ~90,000 places. */
const MAX_ID_LENGTH = 16_000;
const ID = /^s(\d{1,9})\.([A-Za-z0-9_-]*)$/;

/**
 * Which of a batch's images a client has been sent, by their places in the
 * batch index: the id of each `result` event. Every tier reads the index the
 * same from S3, so the id means the same on any tier, and a reconnect with
 * `Last-Event-ID` to any tier is sent exactly the results it has not had.
 * (A count or a position in a tier's own arrival order would not do: tiers
 * hear results in different orders.)
 *
 * Written `s<k>.<bits>`: every place below k seen, then a bitmap (base64url;
 * bit j of byte j>>3 is place k+j) of the places seen beyond k, trailing zero
 * bytes dropped. Results arrive in roughly the upload's order, so ids stay
 * short; the worst case is one bit per image.
 */
export class SeenPlaces {
  private readonly bits: Uint8Array;
  /** Every place below this one is seen. */
  private prefix = 0;

  constructor(readonly size: number) {
    this.bits = new Uint8Array(Math.ceil(size / 8));
  }

  /** The places a Last-Event-ID says were sent; none for a missing, foreign or malformed id. */
  static parse(id: string | undefined, size: number): SeenPlaces {
    const seen = new SeenPlaces(size);
    const m = id && id.length <= MAX_ID_LENGTH ? ID.exec(id) : null;
    if (!m) return seen;
    const k = Math.min(Number(m[1]), size);
    for (let p = 0; p < k; p++) seen.add(p);
    const beyond = Buffer.from(m[2], 'base64url');
    for (let j = 0; j < beyond.length * 8; j++) {
      if (beyond[j >> 3] & (1 << (j & 7)) && k + j < size) seen.add(k + j);
    }
    return seen;
  }

  has(place: number): boolean {
    return place < this.size && (this.bits[place >> 3] & (1 << (place & 7))) !== 0;
  }

  add(place: number): void {
    if (place < 0 || place >= this.size) return;
    this.bits[place >> 3] |= 1 << (place & 7);
    while (this.prefix < this.size && this.has(this.prefix)) this.prefix++;
  }

  toString(): string {
    const k = this.prefix;
    const beyond = new Uint8Array(Math.ceil((this.size - k) / 8));
    let last = -1;
    for (let p = k + 1; p < this.size; p++) {
      if (!this.has(p)) continue;
      const j = p - k;
      beyond[j >> 3] |= 1 << (j & 7);
      last = j >> 3;
    }
    return `s${k}.${Buffer.from(beyond.subarray(0, last + 1)).toString('base64url')}`;
  }
}

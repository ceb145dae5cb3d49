/**
 * A small seeded generator (mulberry32): everything random in convnets draws from one of these, so a run is
 * repeatable from its seed (DESIGN.md decision 9). Its whole state is one 32-bit integer.
 */
export class Generator {
  private state: number;

  constructor(seed = 0) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Standard normal, by Box–Muller. */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with uniform values in [low, high): the fast path for initialising large weights. */
  fillUniform(out: Float32Array, low = 0, high = 1): Float32Array {
    const range = high - low;
    for (let i = 0; i < out.length; i++) out[i] = low + range * this.uniform();
    return out;
  }

  /** Fills `out` with N(mean, std²) values, using both outputs of each Box–Muller pair. */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      const radius = std * Math.sqrt(-2 * Math.log(1 - this.uniform()));
      const angle = 2 * Math.PI * this.uniform();
      out[i] = mean + radius * Math.cos(angle);
      if (i + 1 < out.length) out[i + 1] = mean + radius * Math.sin(angle);
    }
    return out;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** The generator's state, to restore with setState (checkpoints save it). */
  getState(): number {
    return this.state;
  }

  /** Restores a state from getState. */
  setState(state: number): void {
    this.state = state >>> 0;
  }
}

let defaultGenerator = new Generator(0);

/** Reseeds the generator used when none is given. */
export function manualSeed(seed: number): void {
  defaultGenerator = new Generator(seed);
}

/** The generator used when none is given (reseeded by manualSeed). */
export function globalGenerator(): Generator {
  return defaultGenerator;
}

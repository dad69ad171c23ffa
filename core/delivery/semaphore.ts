/*
 * Concurrency limits of delivery: a counting semaphore (at most `limit` tasks
 * at once, the rest wait in arrival order), and the three limits the
 * scheduler sets with it: local deliveries (qmail's concurrencylocal), remote
 * ones (concurrencyremote), and remote ones per destination.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** No task running or waiting. */
  get idle(): boolean {
    return this.active === 0;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export interface DeliveryLimitSettings {
  readonly concurrencyLocal: number;
  readonly concurrencyRemote: number;
  readonly concurrencyPerDomain: number;
}

export class DeliveryLimits {
  private readonly localSlots: Semaphore;
  private readonly remoteSlots: Semaphore;
  /** One semaphore per destination with deliveries running or waiting; dropped when idle. */
  private readonly destinations = new Map<string, Semaphore>();

  constructor(private readonly settings: DeliveryLimitSettings) {
    this.localSlots = new Semaphore(settings.concurrencyLocal);
    this.remoteSlots = new Semaphore(settings.concurrencyRemote);
  }

  local<T>(task: () => Promise<T>): Promise<T> {
    return this.localSlots.run(task);
  }

  /**
   * A remote delivery to `destination`. Its destination's slot comes first: a delivery
   * waiting for a busy destination must not hold one of the slots every destination shares.
   */
  async remote<T>(destination: string, task: () => Promise<T>): Promise<T> {
    let slots = this.destinations.get(destination);
    if (!slots) {
      slots = new Semaphore(this.settings.concurrencyPerDomain);
      this.destinations.set(destination, slots);
    }
    try {
      return await slots.run(() => this.remoteSlots.run(task));
    } finally {
      if (slots.idle && this.destinations.get(destination) === slots) this.destinations.delete(destination);
    }
  }

  /** Destinations with deliveries running or waiting. */
  get destinationCount(): number {
    return this.destinations.size;
  }
}

import type { MemoryInfo } from './backend.js';

/**
 * The live storages and bytes a backend reports in memory(). Storages the garbage collector reclaims without a
 * release() are counted out when it does: a backend whose values are JavaScript arrays has nothing else to free.
 */
export class LiveStorages {
  private storages = 0;
  private bytes = 0;
  private collected = 0;
  private readonly collector = new FinalizationRegistry<number>((bytes) => {
    this.collected++;
    this.remove(bytes);
  });

  add(storage: object, bytes: number): void {
    this.storages++;
    this.bytes += bytes;
    this.collector.register(storage, bytes, storage);
  }

  release(storage: object, bytes: number): void {
    this.collector.unregister(storage);
    this.remove(bytes);
  }

  memory(): MemoryInfo {
    return { storages: this.storages, bytes: this.bytes, collected: this.collected };
  }

  private remove(bytes: number): void {
    this.storages--;
    this.bytes -= bytes;
  }
}

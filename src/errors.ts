/** Base of every error convnets throws on purpose; `layerPath` is filled in by the module that was running. */
export class ConvnetsError extends Error {
  layerPath: string | undefined;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }

  /** Prefixes the message with the module path and type, once (the innermost module wins). */
  atLayer(path: string, layerType: string): this {
    if (this.layerPath === undefined) {
      this.layerPath = path;
      this.message = `${path} (${layerType}): ${this.message}`;
    }
    return this;
  }
}

/** A tensor's shape, rank or channel count does not fit the operation. */
export class ShapeError extends ConvnetsError {}

/** A file or serialised value is malformed. */
export class FormatError extends ConvnetsError {}

/** A backend cannot run what was asked, or a tensor was used after its storage was released. */
export class BackendError extends ConvnetsError {}

/** A value (an option, a hyper-parameter) is outside what the operation accepts. */
export class ValueError extends ConvnetsError {}

/** A file could not be fetched from its URL whole and with the expected hash (no network, cut short, altered). */
export class DownloadError extends ConvnetsError {}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Processes training together could not form their group or lost it: a peer died or never came, the master's address
 * was wrong or its port taken, a collective timed out.
 */
export class DistributedError extends ConvnetsError {}

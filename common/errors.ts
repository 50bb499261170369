// Typed errors: each carries what the user needs to fix it (file, line,
// field, URI) and maps to one CLI exit code. Workflows turn the non-retryable
// kinds into ApplicationFailure with `nonRetryable: true` by their `name`.

export type ErrorKind = 'config' | 'data' | 'storage' | 'transient' | 'not-found' | 'usage';

export const EXIT_CODES: Record<ErrorKind, number> = {
  usage: 2,
  config: 3,
  data: 4,
  storage: 5,
  'not-found': 6,
  transient: 75, // EX_TEMPFAIL: trying again may work
};

export abstract class CrlhfError extends Error {
  abstract readonly kind: ErrorKind;
  /** Whether an activity failing with this error may be retried. */
  get retryable(): boolean {
    return this.kind === 'transient' || this.kind === 'storage';
  }
}

export class ConfigError extends CrlhfError {
  readonly kind = 'config' as const;
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly file?: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class DataError extends CrlhfError {
  readonly kind = 'data' as const;
  override name = 'DataError';
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(message);
  }
}

export class StorageError extends CrlhfError {
  readonly kind = 'storage' as const;
  override name = 'StorageError';
  constructor(
    message: string,
    readonly uri: string,
    /** Permanent storage errors (bad URI, missing bucket, access denied) are not retried. */
    readonly permanent = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  override get retryable(): boolean {
    return !this.permanent;
  }
}

export class NotFoundError extends CrlhfError {
  readonly kind = 'not-found' as const;
  override name = 'NotFoundError';
  constructor(
    message: string,
    readonly uri?: string,
  ) {
    super(message);
  }
  override get retryable(): boolean {
    return false;
  }
}

export class TransientError extends CrlhfError {
  readonly kind = 'transient' as const;
  override name = 'TransientError';
}

export class UsageError extends CrlhfError {
  readonly kind = 'usage' as const;
  override name = 'UsageError';
}

/** Error type names that an activity must not retry (matched by ApplicationFailure type). */
export const NON_RETRYABLE_ERROR_TYPES = ['ConfigError', 'DataError', 'NotFoundError', 'UsageError', 'PermanentStorageError'];

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

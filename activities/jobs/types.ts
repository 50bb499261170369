// What a compute job sees: the activity's heartbeat and cancellation, relayed
// over IPC from the worker process (see compute-pool.ts / compute-host.ts).

export interface JobContext {
  /** Details of the last heartbeat of a previous attempt, to resume from. */
  readonly heartbeatDetails: unknown;
  readonly attempt: number;
  /** Aborted when the activity is cancelled; jobs check it between steps. */
  readonly signal: AbortSignal;
  heartbeat(details: unknown): void;
  log(msg: string, fields?: Record<string, unknown>): void;
  /** Survives between jobs in the same host process (loaded models, tokenizers). */
  readonly cache: Map<string, unknown>;
}

export type JobFn<I = any, O = any> = (input: I, ctx: JobContext) => Promise<O>;

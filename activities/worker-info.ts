// Facts about the worker process that activities report back to workflows.
let sticky: string | undefined;

/** Set once by the worker entry point: this worker's own task queue. */
export function setStickyQueue(queue: string): void {
  sticky = queue;
}

export function stickyQueue(): string | undefined {
  return sticky;
}

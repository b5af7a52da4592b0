/**
 * Reading a request body up to a limit, for everything that must see a whole body (stages that
 * inspect it, the admin API) or must discard one. Events, not an async iterator: one promise
 * per body. Past the limit the stream is paused and the answer is 'too-large' (the caller
 * refuses with 413 and closes the connection); a client that goes away gives 'aborted'.
 */
import type { Readable } from 'node:stream';

export type ReadOutcome =
  | { readonly kind: 'body'; readonly body: Buffer; readonly size: number }
  | { readonly kind: 'too-large'; readonly size: number }
  | { readonly kind: 'aborted'; readonly size: number };

const EMPTY = Buffer.alloc(0);

/**
 * `keep: false` discards the bytes (the body is empty in the outcome). A declared
 * Content-Length over the limit is refused before any byte is read.
 */
export function readBounded(req: BodySource, limit: number, keep: boolean): Promise<ReadOutcome> {
  return new Promise((resolve) => readBoundedThen(req, limit, keep, resolve));
}

type BodySource = Readable & { readonly headers?: Record<string, string | string[] | undefined> };

/**
 * `readBounded` with a callback instead of a promise (the gateway's request path: no promise
 * and no extra tick per body). `resolve` is called exactly once, possibly synchronously.
 */
export function readBoundedThen(req: BodySource, limit: number, keep: boolean, resolve: (outcome: ReadOutcome) => void): void {
  const declared = req.headers?.['content-length'];
  if (typeof declared === 'string' && Number(declared) > limit) return resolve({ kind: 'too-large', size: 0 });
  if (req.readableEnded) return resolve({ kind: 'body', body: EMPTY, size: 0 });
  const chunks: Buffer[] = [];
  let size = 0;
  const done = (outcome: ReadOutcome): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onAbort);
    req.off('close', onAbort);
    if (outcome.kind === 'too-large') req.pause();
    resolve(outcome);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > limit) done({ kind: 'too-large', size });
    else if (keep) chunks.push(chunk);
  };
  const onEnd = (): void => done({ kind: 'body', body: chunks.length === 1 ? chunks[0]! : chunks.length === 0 ? EMPTY : Buffer.concat(chunks), size });
  const onAbort = (): void => done({ kind: 'aborted', size });
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onAbort);
  req.on('close', onAbort);
}

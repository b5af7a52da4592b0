/**
 * `workers: N > 1`: a primary that validates config, forks the workers, runs the admin listener
 * (metrics aggregated over the workers; its own handle on the key store for `/admin/keys`), and
 * coordinates reload and drain. Workers each run a full gateway process (process.ts) on the
 * shared listening sockets.
 *
 * Messages primary → worker: reload, shutdown, bans (an admin ban call), ban-apply (bans placed
 * by another worker, memory store). Worker → primary: ready, reloaded, bans-reply, ban-placed.
 */
import cluster, { type Worker } from 'node:cluster';
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import pino from 'pino';
import { answerBansOp, mergeBansReplies, startAdminServer, type AdminServer, type BansOp, type BansReply, type BansTransport } from '../admin/index.js';
import type { BanKind } from '../abuse/index.js';
import { MemoryBans } from '../store/index.js';
import type { Config } from '../config/types.js';
import { KeyStore } from '../identity/keystore.js';
import { createAggregator } from '../telemetry/index.js';
import { VERSION } from '../version.js';
import { CHALLENGE_KEY_ENV, prepare, startGateway, type ReloadOutcome } from './process.js';
import { processChallengeKey } from '../abuse/index.js';
import { retireRuntime } from './runtime.js';

type Msg =
  | { type: 'portcullis:ready'; revision: string }
  | { type: 'portcullis:reloaded'; id: number; outcome: ReloadOutcome }
  | { type: 'portcullis:reload'; id: number }
  | { type: 'portcullis:shutdown' }
  | { type: 'portcullis:bans'; id: number; op: BansOp }
  | { type: 'portcullis:bans-reply'; id: number; reply: BansReply }
  | { type: 'portcullis:ban-placed'; bans: RelayedBan[] }
  | { type: 'portcullis:ban-apply'; bans: RelayedBan[] };

/** A ban as the primary relays it between the workers of one host (memory store). */
interface RelayedBan {
  readonly kind: BanKind;
  readonly value: string;
  readonly until: number;
  readonly reason: string;
}

/** How long the primary waits for the workers' answers to an admin ban call. */
const BANS_REPLY_TIMEOUT_MS = 5000;

function isMsg(m: unknown): m is Msg {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string' && (m as { type: string }).type.startsWith('portcullis:');
}

/** Runs in a cluster worker: a full gateway, steered by the primary. */
export async function runWorker(config: Config, env: Record<string, string | undefined>): Promise<void> {
  const handle = await startGateway({ config, env, admin: false, watch: false, signals: false, worker: true });
  // Memory store: a ban this worker places (repeated attacks, brute force) goes to the primary,
  // which hands it to the other workers. With Redis every worker mirrors the shared set instead.
  const relay = (): void => {
    const state = handle.gateway.runtime.abuse;
    state.relay =
      state.store.type === 'memory' ? (kind, value, until, reason) => process.send?.({ type: 'portcullis:ban-placed', bans: [{ kind, value, until, reason }] } satisfies Msg) : undefined;
  };
  relay();
  const stop = () => void handle.shutdown().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.on('message', (m: unknown) => {
    if (!isMsg(m)) return;
    if (m.type === 'portcullis:reload') {
      void handle.reload().then((outcome) => {
        relay(); // a reload may have brought a new store
        process.send?.({ type: 'portcullis:reloaded', id: m.id, outcome } satisfies Msg);
      });
    } else if (m.type === 'portcullis:shutdown') {
      stop();
    } else if (m.type === 'portcullis:ban-apply') {
      const state = handle.gateway.runtime.abuse;
      for (const b of m.bans) state.applyRelayed(b.kind, b.value, b.until, b.reason);
    } else if (m.type === 'portcullis:bans') {
      // The admin API (in the primary) reaches this worker's ban lists.
      void answerBansOp(handle.gateway.runtime.abuse, m.op).then((reply) => process.send?.({ type: 'portcullis:bans-reply', id: m.id, reply } satisfies Msg));
    }
  });
  process.send?.({ type: 'portcullis:ready', revision: handle.config().revision } satisfies Msg);
}

/** Runs in the primary. Resolves when the cluster has stopped. */
export async function runPrimary(config: Config, env: Record<string, string | undefined>): Promise<void> {
  const logger = pino({ level: config.telemetry.logLevel, base: { pid: process.pid, role: 'primary' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
  const want = config.workers;
  if (config.bots.enabled && config.bots.challenge.secret === undefined) {
    logger.warn('bots.challenge.secret is not set: clearances are signed with a key generated at start; they do not survive a restart and are not valid on other instances');
  }
  const ready = new Set<number>();
  let current = config;
  let stopping = false;
  let reloadSeq = 0;
  const pendingReloads = new Map<number, { left: Set<number>; outcomes: ReloadOutcome[]; done: (o: ReloadOutcome) => void }>();
  const pendingBans = new Map<number, { left: Set<number>; replies: BansReply[]; done: () => void }>();
  /**
   * Memory store: the bans of this host's workers (placed by a worker, or through the admin
   * API), bounded like the workers' own lists, so that a worker started later gets them too.
   */
  const hostBanList = new MemoryBans(config.abuse.store.memory.maxEntries);
  const keepBan = (b: RelayedBan): void => hostBanList.set(`${b.kind}:${b.value}`, b.until, b.reason, Date.now());
  const hostBans = (): RelayedBan[] => {
    if (current.abuse.store.type !== 'memory') return [];
    return hostBanList.list(Date.now()).map((e) => {
      const colon = e.subject.indexOf(':');
      return { kind: e.subject.slice(0, colon) as BanKind, value: e.subject.slice(colon + 1), until: e.until, reason: e.reason };
    });
  };
  let bansSeq = 0;
  /**
   * `/admin/bans` in the primary: the op goes to every ready worker and the answers are merged
   * (each worker holds its own ban lists with the memory store; with Redis they mirror one set).
   * A worker that exits or does not answer in time is left out; none answering is an error.
   */
  const bans: BansTransport = async (op) => {
    const replies = await askWorkers(op);
    const merged = mergeBansReplies(op, replies);
    if (op.op === 'ban' && merged.op === 'ban') keepBan({ kind: op.kind, value: op.value, until: merged.until, reason: op.reason });
    if (op.op === 'unban') hostBanList.delete(`${op.kind}:${op.value}`);
    return replies;
  };
  const askWorkers = (op: BansOp): Promise<BansReply[]> =>
    new Promise<BansReply[]>((resolve, reject) => {
      const id = ++bansSeq;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && ready.has(w.id));
      const replies: BansReply[] = [];
      const finish = (): void => {
        clearTimeout(timer);
        pendingBans.delete(id);
        if (replies.length === 0) reject(new Error('no worker answered the admin ban call'));
        else resolve(replies);
      };
      const timer = setTimeout(finish, BANS_REPLY_TIMEOUT_MS);
      pendingBans.set(id, { left: new Set(workers.map((w) => w.id)), replies, done: finish });
      // Every worker places a ban; one counts it (bans_total is summed over the workers).
      workers.forEach((w, i) => w.send({ type: 'portcullis:bans', id, op: op.op === 'ban' && i > 0 ? { ...op, count: false } : op } satisfies Msg));
      if (workers.length === 0) finish();
    });

  const fork = (): Worker => {
    // Without bots.challenge.secret, every worker signs with the key generated here, so a
    // clearance from one worker is good on the others.
    const w = cluster.fork({ PORTCULLIS_WORKER: '1', [CHALLENGE_KEY_ENV]: processChallengeKey().toString('hex') });
    w.on('message', (m: unknown) => {
      if (!isMsg(m)) return;
      if (m.type === 'portcullis:ready') {
        ready.add(w.id);
        // A worker started late (or restarted) learns the bans the others hold.
        const held = hostBans();
        if (held.length > 0) w.send({ type: 'portcullis:ban-apply', bans: held } satisfies Msg);
      }
      if (m.type === 'portcullis:ban-placed') {
        for (const b of m.bans) keepBan(b);
        for (const other of Object.values(cluster.workers ?? {})) if (other !== undefined && other.id !== w.id) other.send({ type: 'portcullis:ban-apply', bans: m.bans } satisfies Msg);
      }
      if (m.type === 'portcullis:bans-reply') {
        const p = pendingBans.get(m.id);
        if (p !== undefined && p.left.delete(w.id)) {
          p.replies.push(m.reply);
          if (p.left.size === 0) p.done();
        }
      }
      if (m.type === 'portcullis:reloaded') {
        const p = pendingReloads.get(m.id);
        if (!p) return;
        p.outcomes.push(m.outcome);
        p.left.delete(w.id);
        if (p.left.size === 0) finishReload(m.id);
      }
    });
    return w;
  };

  const finishReload = (id: number): void => {
    const p = pendingReloads.get(id);
    if (!p) return;
    pendingReloads.delete(id);
    const bad = p.outcomes.find((o) => !o.ok);
    p.done(bad ?? p.outcomes[0] ?? { ok: false, errors: ['no worker answered'] });
  };

  cluster.on('exit', (w, code, signal) => {
    ready.delete(w.id);
    for (const [id, p] of pendingReloads) if (p.left.delete(w.id) && p.left.size === 0) finishReload(id);
    for (const p of pendingBans.values()) if (p.left.delete(w.id) && p.left.size === 0) p.done();
    if (stopping) return;
    logger.error({ worker: w.id, code, signal }, 'worker exited; starting a new one');
    setTimeout(() => {
      if (!stopping) fork();
    }, 500);
  });

  for (let i = 0; i < want; i++) fork();

  // The primary serves no requests, so the admin API gets its own key store: opened on first
  // use, closed when a reload changes (or drops) identity.apiKeys.store, and on shutdown.
  let keyStore: KeyStore | undefined;
  const closeStaleKeyStore = (): void => {
    if (keyStore !== undefined && keyStore.file !== current.identity.apiKeys?.store) {
      keyStore.close();
      keyStore = undefined;
    }
  };
  const currentKeyStore = (): KeyStore | undefined => {
    closeStaleKeyStore();
    const file = current.identity.apiKeys?.store;
    if (keyStore === undefined && file !== undefined) keyStore = KeyStore.open(file); // throws: the admin API answers 500 and logs why
    return keyStore;
  };

  let reloading: Promise<ReloadOutcome> | undefined;
  const doReload = async (): Promise<ReloadOutcome> => {
    // Validate and compile here first, so a bad file is reported once and never reaches the workers.
    const next = await prepare(current.file, env);
    if (!next.ok) {
      logger.error({ errors: next.errors }, 'config reload failed; the running config stays in force');
      return { ok: false, errors: next.errors };
    }
    void retireRuntime(next.runtime, undefined); // only a check: close its pools
    current = next.runtime.config;
    closeStaleKeyStore();
    const id = ++reloadSeq;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const outcome = await new Promise<ReloadOutcome>((resolve) => {
      pendingReloads.set(id, { left: new Set(workers.map((w) => w.id)), outcomes: [], done: resolve });
      for (const w of workers) w.send({ type: 'portcullis:reload', id } satisfies Msg);
      if (workers.length === 0) finishReload(id);
    });
    logger.info({ revision: outcome.revision, ok: outcome.ok }, 'config reloaded in workers');
    return outcome;
  };
  const reload = (): Promise<ReloadOutcome> => {
    reloading ??= doReload().finally(() => (reloading = undefined));
    return reloading;
  };

  let watchers: FSWatcher[] = [];
  let debounce: NodeJS.Timeout | undefined;
  const rewatch = (): void => {
    for (const w of watchers) w.close();
    watchers = [];
    const byDir = new Map<string, Set<string>>();
    for (const f of current.files) byDir.set(dirname(f), (byDir.get(dirname(f)) ?? new Set()).add(basename(f)));
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: false }, (_e, filename) => {
          if (filename === null || !names.has(filename.toString())) return;
          clearTimeout(debounce);
          debounce = setTimeout(() => void reload().then(rewatch), 200);
        });
        w.on('error', () => undefined);
        watchers.push(w);
      } catch {
        logger.warn({ dir }, 'cannot watch config directory; reload with SIGHUP');
      }
    }
  };
  rewatch();

  let admin: AdminServer | undefined;
  const startedAt = Date.now();
  if (config.admin.enabled) {
    const source = createAggregator();
    admin = await startAdminServer(config.admin, {
      getConfig: () => current.admin,
      ready: () => !stopping && ready.size >= want,
      status: () => ({ version: VERSION, revision: current.revision, workers: want, workersReady: ready.size, startedAt: new Date(startedAt).toISOString() }),
      reload,
      metrics: () => source.metrics(),
      keyStore: currentKeyStore,
      bans,
      logger,
    });
    logger.info({ address: `${config.admin.host}:${admin.port}` }, 'admin listener');
  }

  process.on('SIGHUP', () => void reload());
  await new Promise<void>((resolve) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      clearTimeout(debounce);
      for (const w of watchers) w.close();
      logger.info('stopping workers');
      for (const w of Object.values(cluster.workers ?? {})) w?.send({ type: 'portcullis:shutdown' } satisfies Msg);
      const hard = setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      }, current.shutdown.drainTimeoutMs + 3000);
      const check = setInterval(() => {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          clearInterval(check);
          clearTimeout(hard);
          void admin?.close().then(() => {
            keyStore?.close();
            resolve();
          });
          if (admin === undefined) resolve();
        }
      }, 50);
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

export function isWorker(): boolean {
  return cluster.isWorker;
}

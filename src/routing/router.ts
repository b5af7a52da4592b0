/**
 * Route table: host + method + path template → value. Built once per config (find-my-way radix
 * tree), looked up once per request. A second table keyed by path only answers 405 with `Allow`
 * when a path is known under other methods.
 */
import FindMyWay from 'find-my-way';
import type { HTTPMethod } from 'find-my-way';

export interface RouteSpec<T> {
  readonly methods: readonly string[];
  /** `/users/{id}`, optional final `*`. */
  readonly template: string;
  readonly hosts: readonly string[] | undefined;
  readonly value: T;
}

export type Lookup<T> =
  | { readonly kind: 'found'; readonly value: T; readonly params: Record<string, string | undefined> }
  | { readonly kind: 'method-not-allowed'; readonly allow: string }
  | { readonly kind: 'not-found' };

export class RouteConflictError extends Error {
  constructor(
    message: string,
    readonly index: number,
  ) {
    super(message);
  }
}

interface Compiled {
  /** find-my-way path, with params renamed p0, p1 … */
  readonly path: string;
  /** Original name of each positional param. */
  readonly names: readonly string[];
}

/** `/a/{user-id}/b.{ext}` → `/a/:p0/b.:p1`; find-my-way param names are restricted, ours are not. */
export function compileTemplate(template: string): Compiled {
  const names: string[] = [];
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '{') {
      const end = template.indexOf('}', i);
      if (end < 0) throw new Error(`unclosed "{" in path template ${template}`);
      names.push(template.slice(i + 1, end));
      out += `:p${names.length - 1}`;
      i = end;
    } else if (c === ':') {
      out += '::'; // a literal colon
    } else if (c === '*') {
      if (i !== template.length - 1) throw new Error(`"*" is only allowed at the end of a path template: ${template}`);
      out += '*';
    } else {
      out += c;
    }
  }
  return { path: out, names };
}

/** The host of a Host header value without its port (an IPv6 literal keeps its brackets), lower-cased. */
export function stripPort(host: string): string {
  if (host.charCodeAt(0) === 0x5b) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return (colon < 0 ? host : host.slice(0, colon)).toLowerCase();
}

const NO_CONSTRAINTS = Object.freeze({});
const NO_PARAMS: Readonly<Record<string, string | undefined>> = Object.freeze({});

interface Store<T> {
  readonly value: T;
  readonly names: readonly string[];
}

export class RouteTable<T> {
  private readonly routes = FindMyWay({ maxParamLength: 2048, caseSensitive: true, ignoreTrailingSlash: false });
  private readonly paths = FindMyWay({ maxParamLength: 2048, caseSensitive: true, ignoreTrailingSlash: false });
  readonly size: number;
  private readonly hostConstrained: boolean;

  constructor(specs: readonly RouteSpec<T>[]) {
    this.hostConstrained = specs.some((s) => s.hosts !== undefined && s.hosts.length > 0);
    const allowByPath = new Map<string, { path: string; hosts: readonly string[] | undefined; methods: Set<string> }>();
    specs.forEach((spec, index) => {
      const compiled = compileTemplate(spec.template);
      const store: Store<T> = { value: spec.value, names: compiled.names };
      for (const host of spec.hosts ?? [undefined]) {
        const opts = host === undefined ? {} : { constraints: { host: host.toLowerCase() } };
        for (const method of spec.methods) {
          try {
            this.routes.on(method as HTTPMethod, compiled.path, opts, () => undefined, store);
          } catch {
            throw new RouteConflictError(`${method} ${spec.template}${host ? ` (host ${host})` : ''} is declared twice`, index);
          }
        }
        const key = `${host ?? ''} ${compiled.path}`;
        const entry = allowByPath.get(key) ?? { path: compiled.path, hosts: host === undefined ? undefined : [host], methods: new Set<string>() };
        for (const m of spec.methods) entry.methods.add(m);
        allowByPath.set(key, entry);
      }
    });
    for (const { path, hosts, methods } of allowByPath.values()) {
      const allow = [...methods].sort().join(', ');
      const opts = hosts === undefined ? {} : { constraints: { host: hosts[0]!.toLowerCase() } };
      this.paths.on('GET', path, opts, () => undefined, { allow });
    }
    this.size = specs.length;
  }

  lookup(method: string, path: string, host: string | undefined): Lookup<T> {
    // Host matching costs a string per request; skip it when no route is host-specific.
    const constraints = this.hostConstrained ? { host: host === undefined ? '' : stripPort(host) } : NO_CONSTRAINTS;
    const found = this.routes.find(method as HTTPMethod, path, constraints);
    if (found !== null) {
      const store = found.store as Store<T>;
      const raw = found.params as Record<string, string | undefined>;
      if (store.names.length === 0 && raw['*'] === undefined) return { kind: 'found', value: store.value, params: NO_PARAMS };
      const params: Record<string, string | undefined> = {};
      for (let i = 0; i < store.names.length; i++) params[store.names[i]!] = raw[`p${i}`];
      if (raw['*'] !== undefined) params['*'] = raw['*'];
      return { kind: 'found', value: store.value, params };
    }
    const known = this.paths.find('GET', path, constraints);
    if (known !== null) return { kind: 'method-not-allowed', allow: (known.store as { allow: string }).allow };
    return { kind: 'not-found' };
  }
}

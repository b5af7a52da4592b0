/**
 * In-memory data of the example notes API. Each `createStore()` call returns fresh seed data,
 * so every server (and every test) starts from the same state.
 *
 * The records deliberately carry fields a client should not see (`email`, `internalNotes`,
 * `ownerEmail`): the backend is naive, and the gateway's data-exposure stages are meant to
 * filter them.
 */

/** A user of the notes service. */
export interface User {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly role: 'member' | 'admin';
  readonly createdAt: string;
  /** Staff-only remarks; a naive backend returns them anyway. */
  readonly internalNotes: string;
}

/** A note owned by one user. */
export interface Note {
  readonly id: string;
  /** Mutable on purpose: the naive PUT handler lets a client reassign it (mass assignment). */
  ownerId: string;
  /** Copied from the owner: a typical over-sharing denormalization. */
  readonly ownerEmail: string;
  title: string;
  body: string;
  tags: string[];
  readonly createdAt: string;
  updatedAt: string;
}

/** What a client sends to create or replace a note. */
export interface NoteInput {
  readonly title: string;
  readonly body: string;
  readonly tags: string[];
  /** Honoured by the naive backend when present: the gateway refuses it (`readOnly`). */
  readonly ownerId?: string;
}

/** The service's state. */
export interface Store {
  readonly users: Map<string, User>;
  /** Demo passwords by e-mail (a real service keeps salted hashes). */
  readonly passwords: Map<string, string>;
  readonly notes: Map<string, Note>;
  /** Next numeric part of a note id (`n-<next>`). */
  nextNoteNumber: number;
  readonly startedAt: number;
}

const SEED_TIME = '2024-05-01T09:00:00.000Z';

/** Returns a fresh store with alice (u-1001) and bob (u-1002) and a few notes each. */
export function createStore(): Store {
  const users = new Map<string, User>();
  const notes = new Map<string, Note>();
  const addUser = (u: User): void => void users.set(u.id, u);
  addUser({
    id: 'u-1001',
    name: 'Alice Martin',
    email: 'alice@example.com',
    role: 'member',
    createdAt: '2024-01-15T08:30:00.000Z',
    internalNotes: 'VIP customer; billing dispute #4411 open',
  });
  addUser({
    id: 'u-1002',
    name: 'Bob Chen',
    email: 'bob@example.com',
    role: 'member',
    createdAt: '2024-02-03T14:12:00.000Z',
    internalNotes: 'requested account deletion once, then withdrew it',
  });

  const seed: Array<[string, string, string, string[]]> = [
    ['u-1001', 'Groceries', 'milk, eggs, coffee beans', ['personal']],
    ['u-1001', 'Q3 planning', 'Draft the roadmap before the offsite.', ['work', 'planning']],
    ['u-1001', 'Wi-Fi at home', 'network: martin-home, password: correct-horse-battery', ['secret']],
    ['u-1002', 'Book list', 'Dune; The Left Hand of Darkness', ['personal', 'reading']],
    ['u-1002', 'Standup notes', 'Blocked on the payments API review.', ['work']],
  ];
  let n = 2001;
  for (const [ownerId, title, body, tags] of seed) {
    const id = `n-${n++}`;
    notes.set(id, {
      id,
      ownerId,
      ownerEmail: users.get(ownerId)?.email ?? '',
      title,
      body,
      tags,
      createdAt: SEED_TIME,
      updatedAt: SEED_TIME,
    });
  }
  const passwords = new Map([
    ['alice@example.com', 'alice-demo-password'],
    ['bob@example.com', 'bob-demo-password'],
  ]);
  return { users, passwords, notes, nextNoteNumber: n, startedAt: Date.now() };
}

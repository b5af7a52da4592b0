/**
 * Minimal type declarations for better-sqlite3 (v12), covering only what the key store uses.
 * @types/better-sqlite3 is not installed; if it is added later, delete this file (the two
 * would declare the same module twice).
 */
declare module 'better-sqlite3' {
  namespace Database {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }

    interface Statement<BindParameters extends unknown[] = unknown[]> {
      readonly reader: boolean;
      run(...params: BindParameters): RunResult;
      get(...params: BindParameters): unknown;
      all(...params: BindParameters): unknown[];
      pluck(toggle?: boolean): this;
    }

    interface Transaction<F extends (...args: never[]) => unknown> {
      (...args: Parameters<F>): ReturnType<F>;
      deferred(...args: Parameters<F>): ReturnType<F>;
      immediate(...args: Parameters<F>): ReturnType<F>;
      exclusive(...args: Parameters<F>): ReturnType<F>;
    }

    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      /** Busy timeout in ms (default 5000). */
      timeout?: number;
    }

    interface Database {
      readonly open: boolean;
      readonly inTransaction: boolean;
      readonly name: string;
      prepare<BindParameters extends unknown[] = unknown[]>(source: string): Statement<BindParameters>;
      exec(source: string): this;
      pragma(source: string, options?: { simple?: boolean }): unknown;
      transaction<F extends (...args: never[]) => unknown>(fn: F): Transaction<F>;
      close(): this;
    }

    interface DatabaseConstructor {
      new (filename: string, options?: Options): Database;
      (filename: string, options?: Options): Database;
      readonly SqliteError: new (message: string, code: string) => Error & { readonly code: string };
    }
  }

  const Database: Database.DatabaseConstructor;
  export = Database;
}

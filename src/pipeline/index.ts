export * from './types.js';
export * from './errors.js';
export * from './problem.js';
export * from './runner.js';

/**
 * vitest 5 targets Node 22+. Its CLI uses three ES2024 built-ins that Node 20 lacks; without
 * them a failing test crashes the reporter ("Map.groupBy is not a function") and hides the
 * real error. Every vitest.config.ts imports this first. A no-op on Node 22+.
 */
type GroupBy = <T, K>(items: Iterable<T>, key: (item: T, index: number) => K) => unknown;

function define(target: object, name: string, value: unknown): void {
  if (!(name in target))
    Object.defineProperty(target, name, { value, writable: true, configurable: true });
}

function group<T, K>(items: Iterable<T>, key: (item: T, index: number) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  let index = 0;
  for (const item of items) {
    const k = key(item, index++);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

define(Map, 'groupBy', group satisfies GroupBy);
define(Object, 'groupBy', ((items, key) =>
  Object.assign(Object.create(null), Object.fromEntries(group(items, key)))) satisfies GroupBy);
define(Promise, 'withResolvers', function withResolvers<T>() {
  let resolve!: (value: T) => void;
  let reject!: (reason?: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
});

// Growing the master's typed-array columns (namespace, chunk table, handle and directory indexes).

type Column = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array;

/** A copy of `old`, of the same kind, with room for `capacity` elements (the new room zeroed). */
export function grownTo<T extends Column>(old: T, capacity: number): T {
  const a = new (old.constructor as new (n: number) => T)(capacity);
  a.set(old as never);
  return a;
}

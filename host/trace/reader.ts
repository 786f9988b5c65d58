// Reading ptlab trace files (format: README.md, "Trace format").

/** One recorded translation attempt. */
export interface TraceAccess {
  cpu: number;
  pid: number;
  tid: number;
  /** Virtual address >> 12. */
  page: number;
  /** Page size of the translation as log2 bytes: 12, 21 or 30. */
  shift: number;
  write: boolean;
}

/** The accesses of a trace file, in record order (each CPU's stream in turn). */
export function accesses(file: string): Iterable<TraceAccess> {
  throw new Error(`trace reader not implemented yet: ${file}`);
}

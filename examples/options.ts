// The examples' command-line options: node:util parseArgs, strict. --help prints the usage
// and each option with its default; an unknown option, a missing value or a stray argument
// is refused with the valid options listed. Every option takes a value but flags, which are
// 'true' when given.

import { parseArgs } from 'node:util';
import { print, writeString } from 'ptlab/userland';

export interface OptionSpec {
  /** The value when the option is not given. */
  default: string;
  help: string;
  /** A flag: takes no value, is 'true' when given (and the default otherwise). */
  flag?: boolean;
}

/**
 * The options in argv by name (strings; each example converts and checks its own), or the
 * exit status to return at once: 0 after --help, 2 after a refusal.
 */
export function exampleOptions<K extends string>(argv: string[], usage: string, spec: Record<K, OptionSpec>): Record<K, string> | number {
  const names = Object.keys(spec) as K[];
  const help = (): string => `${usage}\n\noptions:\n${names.map((n) => `  --${n}${spec[n].flag === true ? '' : ' VALUE'}`.padEnd(24) + (spec[n].flag === true ? spec[n].help : `${spec[n].help} (default ${spec[n].default || 'none'})`)).join('\n')}\n  --help                print this`;
  let values: Record<string, string | boolean | undefined>;
  try {
    const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
    for (const n of names) options[n] = { type: spec[n].flag === true ? 'boolean' : 'string' };
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (e) {
    writeString(2, `${e instanceof Error ? e.message : String(e)}\nvalid options: ${names.map((n) => `--${n}`).join(', ')}, --help\n${help()}\n`);
    return 2;
  }
  if (values.help === true) {
    print(help());
    return 0;
  }
  const out = {} as Record<K, string>;
  for (const n of names) out[n] = typeof values[n] === 'string' ? values[n] : values[n] === true ? 'true' : spec[n].default;
  return out;
}

/** Refuse a bad option value: the message and the usage on stderr; returns 2, the exit status. */
export function refuse(usage: string, why: string): number {
  writeString(2, `${why}\n${usage}\n`);
  return 2;
}

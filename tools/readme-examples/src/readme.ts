// Finds the examples in the repository's READMEs: fenced code blocks, and the commands of shell blocks.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..', '..');

export interface Block {
  /** The README, relative to the repository root. */
  readonly readme: string;
  /** The folder the README is in (where its examples run). */
  readonly dir: string;
  /** The fence's language: ts, js, sh, yaml. */
  readonly lang: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  readonly code: string;
}

/** Every README of the repository: the root's, the examples', each package's, the harness's and the tools'. */
export function readmes(): string[] {
  const found = [join(ROOT, 'README.md'), join(ROOT, 'examples', 'README.md'), join(ROOT, 'loadtest', 'README.md')];
  for (const parent of ['packages', 'tools']) {
    for (const dir of readdirSync(join(ROOT, parent))) {
      const file = join(ROOT, parent, dir, 'README.md');
      if (existsSync(file)) found.push(file);
    }
  }
  return found.filter((f) => existsSync(f));
}

/** The fenced blocks of one README, with their language and line. */
export function blocks(file: string): Block[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```([A-Za-z]+)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ readme: relative(ROOT, file), dir: join(file, '..'), lang: open[1]!.toLowerCase(), line: start + 1, code: `${body.join('\n')}\n` });
  }
  return out;
}

/** One command line of a shell block: environment assignments, the words, and whether it ends in `&`. */
export interface Command {
  readonly text: string;
  readonly env: Record<string, string>;
  readonly argv: string[];
  readonly background: boolean;
}

/**
 * The commands of a shell block, as a shell would split them: `\` continues a line, `#` starts a
 * comment, single and double quotes group words, leading `NAME=value` words set the environment.
 */
export function commands(code: string): Command[] {
  const joined = code.replace(/\\\n\s*/g, ' ');
  const out: Command[] = [];
  for (const raw of joined.split('\n')) {
    const words: string[] = [];
    let word = '';
    let inWord = false;
    let quote: string | undefined;
    let i = 0;
    for (; i < raw.length; i++) {
      const c = raw[i]!;
      if (quote !== undefined) {
        if (c === quote) quote = undefined;
        else word += c;
      } else if (c === '"' || c === "'") {
        quote = c;
        inWord = true;
      } else if (c === '#' && !inWord) {
        break;
      } else if (/\s/.test(c)) {
        if (inWord) words.push(word);
        word = '';
        inWord = false;
      } else {
        word += c;
        inWord = true;
      }
    }
    if (inWord) words.push(word);
    if (words.length === 0) continue;
    const background = words[words.length - 1] === '&';
    if (background) words.pop();
    const env: Record<string, string> = {};
    while (words.length > 0 && /^[A-Z_][A-Z0-9_]*=/.test(words[0]!)) {
      const [name, ...value] = words.shift()!.split('=');
      env[name!] = value.join('=');
    }
    out.push({ text: raw.slice(0, i).trim(), env, argv: words, background });
  }
  return out;
}

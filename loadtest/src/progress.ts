/** Live progress: one rewritten line on a terminal, plain lines elsewhere (CI logs). */
export class Progress {
  readonly #tty: boolean;
  #last = '';

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr, private readonly quiet = false) {
    this.#tty = stream.isTTY === true;
  }

  step(line: string): void {
    if (this.quiet) return;
    if (this.#tty) {
      this.stream.write(`\r\x1b[2K${line}`);
      this.#last = line;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  done(line?: string): void {
    if (this.quiet) return;
    if (this.#tty && this.#last !== '') this.stream.write('\r\x1b[2K');
    this.#last = '';
    if (line !== undefined) this.stream.write(`${line}\n`);
  }
}

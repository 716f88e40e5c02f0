// One CPU-bound call as a script process (the seed's way): hashes and prints the digest.
import { sha256 } from '../src/fixtures/tools.mjs';

process.stdout.write(sha256({ bytes: Number(process.argv[2]), rounds: Number(process.argv[3]) }));

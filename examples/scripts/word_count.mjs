#!/usr/bin/env node
// The word_count tool of tools.yaml: reads `{ "text": "..." }` as JSON on stdin, prints
// `{ "lines": n, "words": n, "characters": n }`.
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { text } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const lines = text === '' ? 0 : text.split(/\r\n|\r|\n/).length;
const words = text.split(/\s+/u).filter(Boolean).length;
process.stdout.write(JSON.stringify({ lines, words, characters: [...text].length }));

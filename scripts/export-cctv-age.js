// Writes the C2SP CCTV age test vectors from the npm package `cctv-age` into a
// directory, one file per vector, with zlib-compressed bodies inflated so the
// C++ tests need no zlib. The bare age files also go to OUT_DIR-corpus, as
// seeds for the fuzzers. Usage: node export-cctv-age.js NODE_MODULES_DIR OUT_DIR
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const [moduleDir, outDir] = process.argv.slice(2);
const vectors = require(path.resolve(moduleDir, "cctv-age"));
fs.mkdirSync(outDir, { recursive: true });
fs.mkdirSync(outDir + "-corpus", { recursive: true });
let count = 0;
for (const [name, bytes] of Object.entries(vectors)) {
  const buf = Buffer.from(bytes);
  const split = buf.indexOf("\n\n");
  if (split < 0) throw new Error(`vector ${name} has no header`);
  const header = buf.subarray(0, split).toString("utf8");
  let body = buf.subarray(split + 2);
  const lines = header.split("\n").filter((l) => !l.startsWith("compressed: "));
  if (/^compressed: zlib$/m.test(header)) body = zlib.inflateSync(body);
  fs.writeFileSync(path.join(outDir, name), Buffer.concat([Buffer.from(lines.join("\n") + "\n\n"), body]));
  fs.writeFileSync(path.join(outDir + "-corpus", name), body);
  count++;
}
console.log(`exported ${count} age test vectors to ${outDir}`);

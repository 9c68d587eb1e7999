// Builds the lab page into ../src/service/lab/assets/, which the monlab binary embeds:
//   lab.js      src/main.js and what it imports (uPlot), bundled and minified by esbuild
//   lab.css     src/lab.css with uPlot's style sheet inlined
//   index.html  src/index.html as is
//   source-hash.txt  FNV-1a 64 of every source below, checked by `cargo test`
//                    (src/service/lab/assets.rs) so a stale bundle cannot go unnoticed.
//
//   npm run build          write the files
//   npm run check          build in memory; exit 1 if a committed file differs
//
// esbuild's output depends only on its version (pinned in package-lock.json) and the inputs,
// so the check is exact.

import { build } from 'esbuild';
import { readFileSync, writeFileSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'service', 'lab', 'assets');
const check = process.argv.includes('--check');

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

// FNV-1a 64 over "path\0contents\0" of each source in path order; the same as
// src/service/lab/assets.rs computes.
function sourceHash() {
  const paths = [join(here, 'package.json'), join(here, 'package-lock.json'), join(here, 'build.mjs'), ...files(join(here, 'src'))];
  const named = paths.map((p) => [relative(here, p).split('\\').join('/'), p]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let h = 0xcbf29ce484222325n;
  const mask = 0xffffffffffffffffn;
  const feed = (bytes) => {
    for (const b of bytes) {
      h ^= BigInt(b);
      h = (h * 0x100000001b3n) & mask;
    }
  };
  for (const [rel, p] of named) {
    feed(Buffer.from(rel, 'utf8'));
    feed([0]);
    feed(readFileSync(p));
    feed([0]);
  }
  return `fnv1a64 ${h.toString(16).padStart(16, '0')}\n`;
}

const common = { bundle: true, minify: true, write: false, logLevel: 'warning', legalComments: 'none' };
const js = await build({ ...common, entryPoints: [join(here, 'src', 'main.js')], format: 'iife', target: 'es2020', outfile: 'lab.js' });
const css = await build({ ...common, entryPoints: [join(here, 'src', 'lab.css')], outfile: 'lab.css' });

const outputs = {
  'lab.js': js.outputFiles[0].text,
  'lab.css': css.outputFiles[0].text,
  'index.html': readFileSync(join(here, 'src', 'index.html'), 'utf8'),
  'source-hash.txt': sourceHash(),
};

if (check) {
  const stale = Object.entries(outputs).filter(([name, text]) => {
    try {
      return readFileSync(join(out, name), 'utf8') !== text;
    } catch {
      return true;
    }
  });
  if (stale.length) {
    console.error(`lab: src/service/lab/assets/ is not what lab/ builds to (${stale.map(([n]) => n).join(', ')}): run \`cd lab && npm ci && npm run build\``);
    process.exit(1);
  }
  console.log('lab: src/service/lab/assets/ matches its sources');
} else {
  mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(outputs)) writeFileSync(join(out, name), text);
  console.log(`lab: wrote ${Object.keys(outputs).join(', ')} to ${relative(process.cwd(), out) || '.'}`);
}

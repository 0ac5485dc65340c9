// Bundles the web app into flat files: node build.mjs OUTDIR
//   app.js (Preact and the app, minified), app.css, index.html, icon.svg, manifest.webmanifest.
// scripts/build-web.sh runs it (after `npm ci` when needed) and adds a .gz sibling of each file.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] || join(here, 'dist'));
mkdirSync(out, { recursive: true });
for (const name of readdirSync(out)) {
  if (statSync(join(out, name)).isFile()) rmSync(join(out, name));
}

await build({
  entryPoints: { app: join(here, 'src/main.jsx') },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});
for (const name of ['index.html', 'icon.svg', 'manifest.webmanifest']) {
  copyFileSync(join(here, name), join(out, name));
}
for (const name of readdirSync(out).sort()) {
  console.log(`  ${name.padEnd(24)} ${statSync(join(out, name)).size} bytes`);
}

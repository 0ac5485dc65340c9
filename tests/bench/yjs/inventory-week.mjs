#!/usr/bin/env node
// Yjs baseline for the Grove "inventory-week" benchmark.
//
// The C++ benchmark `grove-bench inventory-week` runs the same workload; keep
// the two in lock-step (see README.md for the exact definition).
//
// stdout: exactly one JSON line. Diagnostics go to stderr.
// Exit codes: 0 ok, 2 bad command-line options.

import { createRequire } from 'node:module'
import * as Y from 'yjs'

const require = createRequire(import.meta.url)
const YJS_VERSION = require('yjs/package.json').version

// ---------------------------------------------------------------- options

const USAGE =
  'usage: node inventory-week.mjs [--items N] [--peers P] [--sets S] [--adds A] [--seed X]\n' +
  '  defaults: --items 10000 --peers 3 --sets 20000 --adds 20000 --seed 1\n'

const UINT32_MAX = 4294967295

function die (msg) {
  process.stderr.write(`inventory-week: ${msg}\n${USAGE}`)
  process.exit(2)
}

function parseArgs (argv) {
  const opts = { items: 10000, peers: 3, sets: 20000, adds: 20000, seed: 1 }
  for (let a = 0; a < argv.length; a++) {
    let arg = argv[a]
    if (arg === '-h' || arg === '--help') {
      process.stderr.write(USAGE)
      process.exit(0)
    }
    let value
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1)
      arg = arg.slice(0, eq)
    }
    const key = arg.startsWith('--') ? arg.slice(2) : null
    if (key === null || !Object.hasOwn(opts, key)) die(`unknown option '${argv[a]}'`)
    if (value === undefined) {
      if (a + 1 >= argv.length) die(`option --${key} needs a value`)
      value = argv[++a]
    }
    if (!/^[0-9]+$/.test(value)) die(`option --${key} needs a non-negative integer, got '${value}'`)
    const n = Number(value)
    if (!Number.isSafeInteger(n) || n > UINT32_MAX) die(`option --${key} is out of range: '${value}'`)
    opts[key] = n
  }
  if (opts.peers < 2) die(`--peers must be >= 2, got ${opts.peers}`)
  if (opts.peers > 1000) die(`--peers must be <= 1000, got ${opts.peers}`)
  if (opts.items < 1) die(`--items must be >= 1, got ${opts.items}`)
  return opts
}

// ---------------------------------------------------------------- PRNG

// mulberry32; returns a uint32 per call.
function mulberry32 (seed) {
  let a = seed >>> 0
  return function next () {
    a = (a + 0x6D2B79F5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t = (t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t
    return (t ^ (t >>> 14)) >>> 0
  }
}

// Uniform index in [0, n) from a uint32, exact: floor(r * n / 2^32).
function pickIndex (r, n) {
  return Number((BigInt(r) * BigInt(n)) >> 32n)
}

// ---------------------------------------------------------------- helpers

let peakRss = 0
function sampleRss () {
  const rss = process.memoryUsage().rss
  if (rss > peakRss) peakRss = rss
}

// JSON.stringify with object keys sorted recursively.
function canonicalJson (v) {
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']'
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort()
    return '{' + keys.map(k => JSON.stringify(k) + ':' + canonicalJson(v[k])).join(',') + '}'
  }
  return JSON.stringify(v)
}

const itemId = i => `item-${i}`

// ---------------------------------------------------------------- workload

function main () {
  const { items: N, peers: P, sets: S, adds: A, seed } = parseArgs(process.argv.slice(2))

  // Deterministic Yjs client ids (Yjs normally draws a random uint32; these
  // are >= 2^31 so they encode with the same varuint width as typical ids).
  const docs = []
  for (let p = 0; p < P; p++) {
    const doc = new Y.Doc()
    doc.clientID = 0x80000000 + p
    docs.push(doc)
  }

  // 1. Setup (not timed): peer 0 creates N records in one transaction.
  const doc0 = docs[0]
  doc0.transact(() => {
    const root = doc0.getMap('items')
    for (let i = 0; i < N; i++) {
      root.set(itemId(i), new Y.Map([
        ['sku', 'SKU-' + String(i).padStart(6, '0')],
        ['name', `Item ${i}`],
        ['unit', 'pcs'],
        ['location', `A-${i % 100}`],
        ['price', 100 + (i % 900)],
        ['stock', 0]
      ]))
    }
  })
  const initial = Y.encodeStateAsUpdate(doc0)
  for (let p = 1; p < P; p++) Y.applyUpdate(docs[p], initial)
  sampleRss()
  process.stderr.write(`setup: ${N} items, initial state ${initial.length} bytes, ${P} peers\n`)

  // 2. Offline work (not timed): S sets and A adds per peer, interleaved
  //    set, add, set, add, ... while both remain; one transaction each.
  for (let p = 0; p < P; p++) {
    const doc = docs[p]
    const root = doc.getMap('items')
    const rand = mulberry32((seed * 1000 + p) % 4294967296)
    let setsDone = 0
    let addsDone = 0
    for (let k = 0; k < S + A; k++) {
      const doSet = setsDone < S && (addsDone >= A || setsDone <= addsDone)
      const i = pickIndex(rand(), N)
      const rec = root.get(itemId(i))
      if (doSet) {
        const field = setsDone % 2 === 0 ? 'name' : 'location'
        doc.transact(() => { rec.set(field, `${field}-p${p}-${k}`) })
        setsDone++
      } else {
        doc.transact(() => { rec.set('stock', rec.get('stock') + 1) })
        addsDone++
      }
    }
  }
  sampleRss()

  // 3. Merge (timed): every ordered pair (sender q, receiver p), q != p.
  //    All state vectors and updates are computed before any update is
  //    applied, so each update carries exactly q's offline changes.
  const t0 = process.hrtime.bigint()
  const svs = docs.map(d => Y.encodeStateVector(d))
  const updates = [] // updates[p][q]
  let wireBytes = 0
  for (let p = 0; p < P; p++) {
    const row = []
    for (let q = 0; q < P; q++) {
      if (q === p) { row.push(null); continue }
      const u = Y.encodeStateAsUpdate(docs[q], svs[p])
      wireBytes += u.length
      row.push(u)
    }
    updates.push(row)
  }
  for (let p = 0; p < P; p++) {
    for (let q = 0; q < P; q++) {
      if (q !== p) Y.applyUpdate(docs[p], updates[p][q])
    }
  }
  const t1 = process.hrtime.bigint()
  sampleRss()
  const mergeSeconds = Number(t1 - t0) / 1e9

  // 4. Results.
  let stockTotal = 0
  doc0.getMap('items').forEach(rec => { stockTotal += rec.get('stock') })
  const ref = canonicalJson(doc0.toJSON())
  let converged = true
  for (let p = 1; p < P; p++) {
    if (canonicalJson(docs[p].toJSON()) !== ref) {
      converged = false
      process.stderr.write(`peer ${p} diverges from peer 0\n`)
    }
  }
  const stateBytes = Y.encodeStateAsUpdate(doc0).length
  sampleRss()

  const changesMerged = P * (P - 1) * (S + A)
  const expectedStock = P * A
  const out = {
    system: 'yjs',
    yjs_version: YJS_VERSION,
    items: N,
    peers: P,
    sets: S,
    adds: A,
    changes_merged: changesMerged,
    merge_seconds: mergeSeconds,
    merge_changes_per_s: changesMerged / mergeSeconds,
    wire_bytes: wireBytes,
    wire_bytes_per_change: changesMerged > 0 ? wireBytes / changesMerged : 0,
    expected_stock_total: expectedStock,
    stock_total: stockTotal,
    lost_increments: expectedStock - stockTotal,
    converged,
    state_bytes: stateBytes,
    peak_rss_mb: peakRss / (1024 * 1024)
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

main()

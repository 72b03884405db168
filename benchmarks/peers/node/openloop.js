// A fixed-rate, open-loop load generator (wrk2 is not packaged in Debian): request i is due
// at start + i / rate whether or not earlier ones have answered, and its latency is measured
// from that due time, so a stall counts against every request it delays (no coordinated
// omission). Prints one JSON line: sent, ok, errors, achieved rps and latency percentiles.
//
//   node openloop.js --url http://127.0.0.1:8090/v1/home --rate 500 --seconds 10 \
//     --header "authorization: Bearer ..." [--connections 512]
'use strict'

const { Pool } = require('undici')

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}
const url = new URL(arg('--url'))
const RATE = Number(arg('--rate', '100'))
const SECONDS = Number(arg('--seconds', '10'))
const CONNECTIONS = Number(arg('--connections', '512'))
const headers = {}
const h = arg('--header')
if (h) {
  const at = h.indexOf(':')
  headers[h.slice(0, at).trim().toLowerCase()] = h.slice(at + 1).trim()
}

const pool = new Pool(url.origin, { connections: CONNECTIONS, keepAliveTimeout: 60_000, pipelining: 1 })
const path = url.pathname + url.search
const total = Math.max(1, Math.round(RATE * SECONDS))
const latencies = new Float64Array(total)
let sent = 0
let done = 0
let ok = 0
let errors = 0
const failures = {} // status code (or 'connection') -> count: what the errors were
const now = () => Number(process.hrtime.bigint()) / 1e6 // ms
const start = now() + 5

function fire (due) {
  pool.request({ path, method: 'GET', headers }).then(async ({ statusCode, body }) => {
    await body.dump({ limit: Infinity }).catch(() => body.arrayBuffer())
    if (statusCode === 200) latencies[ok++] = now() - due
    else { errors++; failures[statusCode] = (failures[statusCode] || 0) + 1 }
  }, (err) => { errors++; failures[err.code || 'connection'] = (failures[err.code || 'connection'] || 0) + 1 }).finally(() => {
    if (++done === total) finish()
  })
}

function tick () {
  const t = now()
  while (sent < total && start + sent * 1000 / RATE <= t) {
    fire(start + sent * 1000 / RATE)
    sent++
  }
  if (sent < total) setTimeout(tick, Math.max(0, Math.min(1, start + sent * 1000 / RATE - now())))
}

function pct (sorted, p) {
  if (!sorted.length) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]
}

function finish () {
  const elapsed = (now() - start) / 1000
  const sorted = latencies.slice(0, ok).sort()
  process.stdout.write(JSON.stringify({
    rate: RATE,
    sent,
    ok,
    errors,
    failures,
    seconds: elapsed,
    rps: ok / elapsed,
    p50_ms: pct(sorted, 50),
    p90_ms: pct(sorted, 90),
    p99_ms: pct(sorted, 99),
    p999_ms: pct(sorted, 99.9),
    max_ms: sorted.length ? sorted[sorted.length - 1] : 0
  }) + '\n')
  pool.close().finally(() => process.exit(0))
}

setTimeout(tick, 5)
setTimeout(() => { if (done < total) finish() }, (SECONDS + 30) * 1000).unref()

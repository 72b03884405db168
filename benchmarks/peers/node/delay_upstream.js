// The recorded upstream bodies served after a fixed delay: the 20 ms latency variant.
// nginx cannot delay a static answer cheaply (echo_sleep needs a module Debian's nginx-light
// lacks), so this plain node:http server answers every recorded path (any method, query
// ignored, like the nginx fixture) after setTimeout(DELAY_MS). The runner records its CPU use
// during each round to show it is not the bottleneck.
//
//   node delay_upstream.js --port 8601 --delay-ms 20 --routes routes.json
//   (routes.json: {"/users/u1": "/path/to/body.json", ...})
'use strict'

const http = require('node:http')
const fs = require('node:fs')

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}
const PORT = Number(arg('--port', '8601'))
const DELAY_MS = Number(arg('--delay-ms', '20'))
const routes = new Map(Object.entries(JSON.parse(fs.readFileSync(arg('--routes'), 'utf8')))
  .map(([path, file]) => [path, fs.readFileSync(file)]))

const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?')
  const body = routes.get(q < 0 ? req.url : req.url.slice(0, q))
  req.resume()
  setTimeout(() => {
    if (body === undefined) {
      res.writeHead(404, { 'content-length': 0 })
      res.end()
      return
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
    res.end(body)
  }, DELAY_MS)
})
server.keepAliveTimeout = 120_000
server.maxRequestsPerSocket = 0
server.listen(PORT, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))

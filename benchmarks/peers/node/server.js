// GET /v1/home written the common Node way: fastify + an undici keep-alive Pool.
//
// Same upstream calls and dependencies as the mobile BFF's HOME plan: me, stream,
// recommendations and playlists in parallel; the catalog batch once me, stream and
// recommendations are in (with x-user-id / x-viewer-country); the users batch once stream
// and the catalog batch are in. No JWT verification: the caller is the configured user.
// GET /v1/users/:id relays one upstream GET (the single pass-through scenario).
// BENCH_WORKERS=2 runs that many processes on one port (node:cluster), as a user would.
//
//   BENCH_UPSTREAM=http://127.0.0.1:18080 node server.js --port 8091
'use strict'

const cluster = require('node:cluster')
const WORKERS = Number(process.env.BENCH_WORKERS || 1)
if (WORKERS > 1 && cluster.isPrimary) {
  for (let i = 0; i < WORKERS; i++) cluster.fork()
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM')
    process.exit(0)
  })
  return // eslint-disable-line no-unreachable
}

const fastify = require('fastify')({ logger: false })
const { Pool } = require('undici')

const UPSTREAM = process.env.BENCH_UPSTREAM || 'http://127.0.0.1:18080'
const USER_ID = process.env.BENCH_USER_ID || 'u1'
const portArg = process.argv.indexOf('--port')
const PORT = portArg > 0 ? Number(process.argv[portArg + 1]) : 8091

const pool = new Pool(UPSTREAM, { connections: 256, keepAliveTimeout: 60_000 })

async function getJson (path, query, headers) {
  const qs = query ? '?' + new URLSearchParams(query).toString() : ''
  const { statusCode, body } = await pool.request({
    path: path + qs,
    method: 'GET',
    headers: { accept: 'application/json', ...headers }
  })
  if (statusCode !== 200) {
    await body.dump()
    throw new Error(`${path} answered ${statusCode}`)
  }
  return body.json()
}

const unique = (ids) => [...new Set(ids)].slice(0, 100)

const userCard = (u) => ({
  id: u.id, username: u.username, display_name: u.display_name, avatar_url: u.avatar_url
})

const trackCard = (t, people) => {
  const owner = people.get(t.owner_id)
  return {
    id: t.id,
    title: t.title,
    duration_ms: t.duration_ms,
    artwork_url: t.artwork_url,
    stream_url: t.media.stream_url,
    owner: owner ? userCard(owner) : null
  }
}

fastify.get('/v1/home', async (request, reply) => {
  const userId = USER_ID
  const playlistsP = getJson('/playlists', { owner: userId })
  const [me, stream, recs] = await Promise.all([
    getJson(`/users/${userId}`),
    getJson(`/stream/${userId}`, { limit: 20 }),
    getJson(`/recommendations/${userId}`, { limit: 10 })
  ])
  const trackIds = unique(stream.items.map(i => i.track_id).concat(recs.items.map(r => r.track_id)))
  let tracks = []
  if (trackIds.length) {
    tracks = (await getJson('/catalog/tracks', { ids: trackIds.join(',') },
      { 'x-user-id': userId, 'x-viewer-country': me.country || '' })).items
  }
  const peopleIds = unique(stream.items.map(i => i.actor_id).concat(tracks.map(t => t.owner_id)))
  let users = []
  if (peopleIds.length) {
    users = (await getJson('/users', { ids: peopleIds.join(',') })).items
  }
  const playlists = await playlistsP

  const byTrack = new Map(tracks.map(t => [t.id, t]))
  const people = new Map(users.map(u => [u.id, u]))
  return {
    me: userCard(me),
    stream: {
      items: stream.items.filter(i => byTrack.has(i.track_id)).map(i => ({
        id: i.id,
        type: i.type,
        created_at: i.created_at,
        actor: people.has(i.actor_id) ? userCard(people.get(i.actor_id)) : null,
        track: trackCard(byTrack.get(i.track_id), people)
      })),
      next_cursor: stream.next_cursor ?? null
    },
    recommendations: recs.items.filter(r => byTrack.has(r.track_id))
      .map(r => trackCard(byTrack.get(r.track_id), people)),
    playlists: playlists.items.map(p => ({
      id: p.id, title: p.title, track_count: p.track_ids.length, artwork_url: p.artwork_url ?? ''
    }))
  }
})

fastify.get('/v1/users/:id', async (request, reply) => {
  const { statusCode, headers, body } = await pool.request({
    path: `/users/${encodeURIComponent(request.params.id)}`,
    method: 'GET',
    headers: { accept: 'application/json' }
  })
  reply.code(statusCode).header('content-type', headers['content-type'] || 'application/json')
  return body
})

fastify.listen({ host: '127.0.0.1', port: PORT }).catch((err) => {
  console.error(err)
  process.exit(1)
})

process.on('SIGTERM', () => { fastify.close().then(() => pool.close()).finally(() => process.exit(0)) })

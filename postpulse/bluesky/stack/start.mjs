// postpulse's local AT Protocol stack: a PLC directory, a PDS, an AppView (bsky) and bsync,
// assembled from the reference servers' packages and kept in one data folder so that a restart
// finds every account, post and key again.
//
//   PLC, AppView, bsync  PostgreSQL (schemas plc, appview, bsync) at PP_DB_URL
//   PDS                  SQLite files and blobs under PP_DATA/pds
//   keys, service DID    PP_DATA/stack.json (created on the first start, reused afterwards)
//
// Configuration comes from the environment (PP_DATA, PP_DB_URL, PP_PORT_PLC, PP_PORT_PDS,
// PP_PORT_APPVIEW, PP_PORT_DATAPLANE, PP_PORT_BSYNC). The script prints one line
// `READY pds=... appview=... plc=...` when every server answers, and stops on SIGINT/SIGTERM.
// Run it with the guard preloaded (`node --require guard.cjs start.mjs`).
import fs from 'node:fs'
import path from 'node:path'
import { Client as PlcClient, atprotoOp, didForCreateOp } from '@did-plc/lib'
import * as plc from '@did-plc/server'
import * as bsky from '@atproto/bsky'
import * as bsync from '@atproto/bsync'
import { Secp256k1Keypair, randomStr } from '@atproto/crypto'
import { PDS } from '@atproto/pds'
import { request } from 'undici'
import * as ui8 from 'uint8arrays'

const env = (name) => {
  const value = process.env[name]
  if (!value) {
    console.error(`missing environment variable ${name}`)
    process.exit(2)
  }
  return value
}
const DATA = env('PP_DATA')
const DB_URL = env('PP_DB_URL')
const port = (name) => Number(env(name))
const PORTS = {
  plc: port('PP_PORT_PLC'),
  pds: port('PP_PORT_PDS'),
  appview: port('PP_PORT_APPVIEW'),
  dataplane: port('PP_PORT_DATAPLANE'),
  bsync: port('PP_PORT_BSYNC'),
}
const local = (p) => `http://localhost:${p}`
const HANDLE_DOMAINS = ['.test']

// ---------------------------------------------------------------- keys and identities (kept)
const statePath = path.join(DATA, 'stack.json')
async function loadState() {
  if (fs.existsSync(statePath)) return JSON.parse(fs.readFileSync(statePath, 'utf8'))
  const hex = async () => ui8.toString(await (await Secp256k1Keypair.create({ exportable: true })).export(), 'hex')
  const state = {
    plcRotationKeyHex: await hex(),
    appviewKeyHex: await hex(),
    recoveryKeyHex: await hex(),
    jwtSecret: randomStr(32, 'base32'),
    adminPassword: randomStr(24, 'base32'),
    bsyncApiKey: randomStr(24, 'base32'),
    appviewDid: null,
  }
  saveState(state)
  return state
}
function saveState(state) {
  fs.mkdirSync(DATA, { recursive: true })
  fs.writeFileSync(statePath + '.tmp', JSON.stringify(state, null, 2), { mode: 0o600 })
  fs.renameSync(statePath + '.tmp', statePath)
}

// ---------------------------------------------------------------- handle resolution
// `.test` handles have no DNS: they resolve through the PDS's well-known endpoint.
async function resolveLocalHandle(handle) {
  try {
    // undici's request, not fetch: fetch drops a Host header
    const res = await request(`${local(PORTS.pds)}/.well-known/atproto-did`, { headers: { host: handle } })
    if (res.statusCode !== 200) {
      await res.body.dump()
      return undefined
    }
    return (await res.body.text()).trim()
  } catch {
    return undefined
  }
}
function localHandles(idResolver) {
  const original = idResolver.handle.resolve.bind(idResolver.handle)
  idResolver.handle.resolve = async (handle) =>
    HANDLE_DOMAINS.some((d) => handle.endsWith(d)) ? resolveLocalHandle(handle) : original(handle)
}

// ---------------------------------------------------------------- the servers
async function startPlc() {
  const db = plc.Database.postgres({ url: DB_URL, schema: 'plc' })
  await db.migrateToLatestOrThrow()
  const server = plc.PlcServer.create({ db, port: PORTS.plc })
  await server.start()
  return { server, close: () => server.destroy() }
}

async function appviewDid(state) {
  if (state.appviewDid) return state.appviewDid
  const key = await Secp256k1Keypair.import(state.appviewKeyHex)
  const client = new PlcClient(local(PORTS.plc))
  const genesis = await atprotoOp({
    signingKey: key.did(),
    rotationKeys: [key.did()],
    handle: 'appview.test',
    pds: local(PORTS.appview),
    signer: key,
    prev: null,
  })
  const did = await didForCreateOp(genesis)
  try {
    await client.sendOperation(did, genesis)
  } catch (err) {
    // the same key always makes the same genesis operation: registered by an earlier start
    // that stopped before it wrote stack.json
    if (!/already registered|already exists|duplicate/i.test(String(err?.message ?? err))) throw err
  }
  await client.updateData(did, key, (doc) => {
    doc.services['bsky_notif'] = { type: 'BskyNotificationService', endpoint: local(PORTS.appview) }
    doc.services['bsky_appview'] = { type: 'BskyAppView', endpoint: local(PORTS.appview) }
    return doc
  })
  state.appviewDid = did
  saveState(state)
  return did
}

async function startBsync(state) {
  const config = bsync.envToCfg({
    port: PORTS.bsync,
    apiKeys: [state.bsyncApiKey],
    dbUrl: DB_URL,
    dbSchema: 'bsync',
    dbPoolSize: 5,
  })
  const service = await bsync.BsyncService.create(config)
  await service.ctx.db.migrateToLatestOrThrow()
  await service.start()
  return service
}

async function startAppview(state, serverDid) {
  const db = new bsky.Database({ url: DB_URL, schema: 'appview', poolSize: 10 })
  const migrationDb = new bsky.Database({ url: DB_URL, schema: 'appview' })
  await migrationDb.migrateToLatestOrThrow()
  await migrationDb.close()
  const dataplane = await bsky.DataPlaneServer.create(db, PORTS.dataplane, local(PORTS.plc), globalThis.fetch)
  const config = new bsky.ServerConfig({
    version: 'postpulse-local',
    port: PORTS.appview,
    didPlcUrl: local(PORTS.plc),
    publicUrl: local(PORTS.appview),
    serverDid,
    alternateAudienceDids: [],
    dataplaneUrls: [local(PORTS.dataplane)],
    dataplaneHttpVersion: '1.1',
    bsyncUrl: local(PORTS.bsync),
    bsyncApiKey: state.bsyncApiKey,
    bsyncHttpVersion: '1.1',
    modServiceDid: 'did:example:invalidMod',
    labelsFromIssuerDids: [],
    bigThreadUris: new Set(),
    maxThreadParents: 50,
    disableSsrfProtection: true,
    searchTagsHide: new Set(),
    searchTagsHideAll: new Set(),
    threadTagsBumpDown: new Set(),
    threadTagsHide: new Set(),
    visibilityTagHide: '',
    visibilityTagRankPrefix: '',
    debugFieldAllowedDids: new Set(),
    draftsLimit: 500,
    feedGenSkeletonTimeout: 5000,
    adminPasswords: [state.adminPassword],
    etcdHosts: [],
  })
  const signingKey = await Secp256k1Keypair.import(state.appviewKeyHex)
  const server = bsky.BskyAppView.create({ config, signingKey })
  localHandles(server.ctx.idResolver)
  localHandles(dataplane.idResolver)
  const bsyncSub = new bsky.BsyncSubscription({ config, db })
  const sub = new bsky.RepoSubscription({
    service: `ws://localhost:${PORTS.pds}`,
    db,
    idResolver: dataplane.idResolver,
  })
  await server.start()
  bsyncSub.start()
  void sub.start()
  return {
    server,
    close: async () => {
      for (const step of [() => server.destroy(), () => bsyncSub.destroy(), () => dataplane.destroy(), () => sub.destroy(), () => db.close()]) {
        try {
          await step()
        } catch {}
      }
    },
  }
}

async function startPds(state, serverDid) {
  const dir = path.join(DATA, 'pds')
  fs.mkdirSync(path.join(dir, 'blobs'), { recursive: true })
  const recovery = await Secp256k1Keypair.import(state.recoveryKeyHex)
  const server = await PDS.fromEnv({
    devMode: true,
    port: PORTS.pds,
    hostname: 'localhost',
    dataDirectory: dir,
    blobstoreDiskLocation: path.join(dir, 'blobs'),
    recoveryDidKey: recovery.did(),
    adminPassword: state.adminPassword,
    jwtSecret: state.jwtSecret,
    serviceHandleDomains: HANDLE_DOMAINS,
    didPlcUrl: local(PORTS.plc),
    bskyAppViewUrl: local(PORTS.appview),
    bskyAppViewDid: serverDid,
    bskyAppViewCdnUrlPattern: `${local(PORTS.appview)}/img/%s/plain/%s/%s@jpeg`,
    plcRotationKeyK256PrivateKeyHex: state.plcRotationKeyHex,
    inviteRequired: false,
    disableSsrfProtection: true,
    serviceName: 'postpulse local PDS',
    rateLimitsEnabled: process.env.PP_RATE_LIMITS === '1',
  })
  localHandles(server.ctx.idResolver)
  await server.start()
  return server
}

async function main() {
  fs.mkdirSync(DATA, { recursive: true })
  const state = await loadState()
  const closers = []
  const stop = async (code) => {
    // the servers close their connections first; what has not closed in 3 s is cut (all data
    // is in PostgreSQL and SQLite, which survive that)
    setTimeout(() => process.exit(code), 3000).unref()
    for (const close of closers.reverse()) {
      try {
        await close()
      } catch {}
    }
    process.exit(code)
  }
  process.on('SIGINT', () => void stop(0))
  process.on('SIGTERM', () => void stop(0))
  try {
    const plcServer = await startPlc()
    closers.push(plcServer.close)
    const serverDid = await appviewDid(state)
    const bsyncService = await startBsync(state)
    closers.push(() => bsyncService.destroy())
    const appview = await startAppview(state, serverDid)
    closers.push(appview.close)
    const pds = await startPds(state, serverDid)
    closers.push(() => pds.destroy())
  } catch (err) {
    console.error(`the local AT Protocol stack failed to start: ${err?.stack ?? err}`)
    await stop(1)
    return
  }
  const url = (p) => `http://127.0.0.1:${p}`
  console.log(`READY pds=${url(PORTS.pds)} appview=${url(PORTS.appview)} plc=${url(PORTS.plc)}`)
}

main()

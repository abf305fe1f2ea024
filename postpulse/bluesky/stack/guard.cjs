// Loaded with `node --require` before the stack starts: the local AT Protocol stack may only
// talk to itself. Every outgoing TCP connection to an address outside the loopback range is
// refused, host names other than localhost do not resolve (no DNS query leaves the machine:
// the PDS would otherwise try did:web documents such as api.bsky.chat), and servers that
// listen without a host listen on 127.0.0.1 only.
'use strict'

const net = require('node:net')
const dns = require('node:dns')

const LOCAL_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]'])

function isLoopback(host) {
  if (host === undefined || host === null || host === '') return true // node's default: localhost
  const h = String(host).toLowerCase()
  if (LOCAL_NAMES.has(h)) return true
  if (net.isIPv4(h)) return h.startsWith('127.')
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.')
  return false
}

function refusal(host) {
  const err = new Error(`outside connection refused by the postpulse stack guard: ${host}`)
  err.code = 'ECONNREFUSED'
  return err
}

// --- outgoing connections ------------------------------------------------------------------
const originalConnect = net.Socket.prototype.connect
net.Socket.prototype.connect = function guardedConnect(...args) {
  let opts = args[0]
  if (Array.isArray(opts)) opts = opts[0] // internal normalized form
  let host
  if (opts && typeof opts === 'object') {
    if (opts.path) return originalConnect.apply(this, args) // unix sockets (PostgreSQL)
    host = opts.host
  } else if (typeof opts === 'number' || typeof opts === 'string') {
    if (typeof opts === 'string' && !/^\d+$/.test(opts)) return originalConnect.apply(this, args) // a path
    host = typeof args[1] === 'string' ? args[1] : undefined
  }
  if (!isLoopback(host)) {
    process.nextTick(() => this.destroy(refusal(host)))
    return this
  }
  return originalConnect.apply(this, args)
}

// --- name resolution -----------------------------------------------------------------------
const originalLookup = dns.lookup
dns.lookup = function guardedLookup(hostname, options, callback) {
  if (typeof options === 'function') {
    callback = options
    options = {}
  }
  const h = String(hostname).toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost')) {
    // always IPv4: the stack's servers listen on 127.0.0.1 only
    const all = typeof options === 'object' && options && options.all
    return process.nextTick(() =>
      all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4),
    )
  }
  if (isLoopback(h)) return originalLookup.call(dns, hostname, options, callback)
  const err = new Error(`getaddrinfo ENOTFOUND ${hostname} (postpulse stack guard: no outside names)`)
  err.code = 'ENOTFOUND'
  err.hostname = hostname
  return process.nextTick(() => callback(err))
}
const notFound = (name) => {
  const err = new Error(`queryTxt ENOTFOUND ${name} (postpulse stack guard: no outside DNS)`)
  err.code = 'ENOTFOUND'
  return err
}
dns.promises.lookup = async (hostname, options) =>
  new Promise((resolve, reject) =>
    dns.lookup(hostname, options || {}, (err, address, family) =>
      err ? reject(err) : resolve(Array.isArray(address) ? address : { address, family }),
    ),
  )
for (const target of [dns, dns.promises, dns.Resolver.prototype, dns.promises.Resolver.prototype]) {
  for (const name of ['resolve', 'resolve4', 'resolve6', 'resolveTxt', 'resolveAny', 'resolveCname']) {
    if (typeof target[name] !== 'function') continue
    const isPromise = target === dns.promises || target === dns.promises.Resolver.prototype
    target[name] = isPromise
      ? async (host) => {
          throw notFound(host)
        }
      : (host, ...rest) => {
          const cb = rest[rest.length - 1]
          process.nextTick(() => cb(notFound(host)))
        }
  }
}

// --- listening -----------------------------------------------------------------------------
const originalListen = net.Server.prototype.listen
net.Server.prototype.listen = function guardedListen(...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const port = Number(args[0])
    const rest = args.slice(1)
    if (typeof rest[0] === 'string') rest.shift() // a host given: replaced
    return originalListen.call(this, port, '127.0.0.1', ...rest)
  }
  if (args[0] && typeof args[0] === 'object' && !args[0].path && !args[0]._handle) {
    return originalListen.call(this, { ...args[0], host: '127.0.0.1' }, ...args.slice(1))
  }
  if (args.length === 0 || typeof args[0] === 'function') {
    return originalListen.call(this, 0, '127.0.0.1', ...args)
  }
  return originalListen.apply(this, args)
}

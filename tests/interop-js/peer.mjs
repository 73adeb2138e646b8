// A js-libp2p peer speaking Spegel's DHT, for the C# interop tests. Usage: node peer.mjs <listen-port> [swarm-key-file]
// With a swarm key file, the peer is in that libp2p private network (@libp2p/pnet).
// Reads one JSON command per line on stdin, answers one JSON line on stdout ({"id":…, …}); logs go to stderr.
import './polyfill.mjs'
import { createInterface } from 'node:readline'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { preSharedKey } from '@libp2p/pnet'
import { readFileSync } from 'node:fs'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

const port = Number(process.argv[2] ?? 0)
const swarmKey = process.argv[3]
const node = await createLibp2p({
  ...(swarmKey ? { connectionProtector: preSharedKey({ psk: readFileSync(swarmKey) }) } : {}),
  addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    // js-libp2p's connection monitor pings each connection too: room for its stream and the test's at once.
    ping: ping({ maxOutboundStreams: 4 }),
    dht: kadDHT({
      protocol: '/spegel/kad/1.0.0',
      clientMode: false,
      peerInfoMapper: passthroughMapper,
      allowQueryWithZeroPeers: true
    })
  }
})
await node.start()

const keyToCid = async (key) => CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(key)))

const handlers = {
  async info () {
    return { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()), protocols: node.getProtocols() }
  },
  async dial ({ addr }) {
    const connection = await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(10000) })
    return { peer: connection.remotePeer.toString() }
  },
  async ping ({ peer }) {
    const rtt = await node.services.ping.ping(peerIdFromString(peer), { signal: AbortSignal.timeout(10000) })
    return { rtt }
  },
  async peerProtocols ({ peer }) {
    const stored = await node.peerStore.get(peerIdFromString(peer))
    return { protocols: stored.protocols, addrs: stored.addresses.map(a => a.multiaddr.toString()) }
  },
  async routingTable () {
    const peers = []
    for (const bucketPeer of node.services.dht.routingTable.kb?.toIterable?.() ?? []) {
      peers.push(bucketPeer.peerId.toString())
    }
    return { size: node.services.dht.routingTable.size, peers }
  },
  async provide ({ key }) {
    const cid = await keyToCid(key)
    await node.contentRouting.provide(cid, { signal: AbortSignal.timeout(20000) })
    return { cid: cid.toString() }
  },
  async find ({ key, timeoutMs }) {
    const cid = await keyToCid(key)
    const providers = []
    try {
      for await (const provider of node.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(timeoutMs ?? 10000) })) {
        providers.push({ id: provider.id.toString(), addrs: provider.multiaddrs.map(a => a.toString()) })
        break
      }
    } catch (err) {
      if (providers.length === 0) return { providers, error: err.message }
    }
    return { providers }
  },
  async findAll ({ key, timeoutMs }) {
    // Every provider the lookup yields, to its end (a stock node's view of who provides a key).
    const cid = await keyToCid(key)
    const providers = []
    try {
      for await (const provider of node.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(timeoutMs ?? 10000) })) {
        if (!providers.some(p => p.id === provider.id.toString())) {
          providers.push({ id: provider.id.toString(), addrs: provider.multiaddrs.map(a => a.toString()) })
        }
      }
    } catch (err) {
      return { providers, error: err.message }
    }
    return { providers }
  },
  async stop () {
    await node.stop()
    setTimeout(() => process.exit(0), 10)
    return {}
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  let request
  try {
    request = JSON.parse(line)
    const result = await handlers[request.cmd](request)
    process.stdout.write(JSON.stringify({ id: request.id, ok: true, ...result }) + '\n')
  } catch (err) {
    process.stdout.write(JSON.stringify({ id: request?.id, ok: false, error: String(err?.stack ?? err) }) + '\n')
  }
})
lines.on('close', async () => {
  await node.stop()
  process.exit(0)
})
process.stdout.write(JSON.stringify({ ready: true, peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) }) + '\n')

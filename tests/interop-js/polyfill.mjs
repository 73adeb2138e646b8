// js-libp2p 3.x calls Promise.withResolvers (Node >= 22); Node 20 lacks it. A spec-equivalent polyfill, imported
// before anything else (P2P-WIRE.md C.1).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve
    let reject
    const promise = new this((res, rej) => {
      resolve = res
      reject = rej
    })
    return { promise, resolve, reject }
  }
}

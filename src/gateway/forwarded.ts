// X-Forwarded-For / X-Forwarded-Proto from a proxy we trust (gunicorn's and uvicorn's
// --forwarded-allow-ips). Behind nginx the connection's peer is the proxy; when that peer is
// trusted, the request's client address and scheme are taken from the headers the proxy set, and
// written where every framework reads them: `socket.remoteAddress` (Express req.ip, Koa ctx.ip,
// Fastify request.ip) and `socket.encrypted` (req.protocol / req.secure, ctx.protocol; the fetch
// interface's request.url). A peer that is not trusted gets its headers ignored: anyone can send them.
// A unix socket's peer is always trusted, as in gunicorn: whoever may connect to the socket is
// the proxy, so its mode (--socket-mode, or the socket unit's SocketMode/SocketGroup) is what
// decides who can claim a client address. On TCP only the listed proxies can. The values are the
// connection's, set at each request head: a trusted proxy that pipelines requests of different
// clients on one connection would have a request still in its handler see the next one's client
// (nginx and HAProxy do not pipeline to their upstreams).

import { BlockList, isIP } from 'node:net';
import type { HeaderList } from '../http/parser';

/** gunicorn's default: loopback only. */
export const DEFAULT_FORWARDED_ALLOW_IPS = '127.0.0.1,::1';

export interface ForwardedTrust {
  /** True when headers from this peer address (as accept() gave it; '' for a unix socket) are believed. */
  trusts(address: string): boolean;
}

/**
 * Parses `--forwarded-allow-ips`: comma-separated addresses and networks (10.0.0.0/8, fd00::/8), or
 * '*' for every peer. Returns an error message for a bad entry.
 */
export function parseForwardedAllowIps(text: string): ForwardedTrust | string {
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.includes('*')) return { trusts: () => true };
  const list = new BlockList();
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address);
    if (family === 0 || extra !== undefined) return `'${entry}' is not an IP address or network`;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 6 ? 128 : 32)) return `'${entry}' has a bad prefix length`;
    list.addSubnet(address, prefix, type);
  }
  return { trusts: (address) => address === '' || check(list, address) };
}

function check(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6 && list.check(address, 'ipv6')) return true;
  // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return family === 4 ? list.check(address, 'ipv4') : mapped !== null && list.check(mapped[1], 'ipv4');
}

export interface Forwarded {
  /** The client's address: the proxy's view of it, or the peer itself. */
  address: string | undefined;
  secure: boolean;
}

/**
 * The client's address and scheme for one request from `peer`. X-Forwarded-For is read from the
 * right (each proxy appends the address it saw): the first entry not itself a trusted proxy is the
 * client; entries that are not IP addresses make the header ignored. X-Forwarded-Proto: https (or
 * wss) means the client's connection was encrypted.
 */
export function forwardedFor(trust: ForwardedTrust, peer: string, headers: HeaderList): Forwarded {
  const unix = peer === '';
  const original = { address: unix ? undefined : peer, secure: false };
  if (!trust.trusts(peer)) return original;
  let forwardedFor: string | undefined;
  let proto: string | undefined;
  for (const [name, value] of headers) {
    const lower = name.length === 15 || name.length === 17 ? name.toLowerCase() : '';
    // Several header lines are one list, in order.
    if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor},${value}`;
    else if (lower === 'x-forwarded-proto') proto = value;
  }
  const result = { ...original };
  if (proto !== undefined) {
    const last = proto.split(',').pop()!.trim().toLowerCase();
    result.secure = last === 'https' || last === 'wss';
  }
  if (forwardedFor !== undefined) {
    const hops = forwardedFor.split(',').map((s) => s.trim());
    if (hops.every((h) => isIP(h) !== 0)) {
      let client = hops[0];
      for (let i = hops.length - 1; i >= 0; i--) {
        if (!trust.trusts(hops[i])) {
          client = hops[i];
          break;
        }
      }
      result.address = client;
    }
  }
  return result;
}

// IPv4 addresses and subnets as numbers: parse, print, contain, overlap. Only what IPAM and subnet
// choice need (berth's networks are IPv4, like docker's default ones).
import { BerthError, type ErrorKind } from '../../errors.js';

export interface Subnet {
  /** The network address, as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export class AddressError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'AddressError';
}

export function parseIPv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) throw new AddressError(`${JSON.stringify(text)} is not an IPv4 address`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.88.0.0/16`; the address must be the network's own (no host bits), as docker requires. */
export function parseSubnet(text: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 32) throw new AddressError(`${JSON.stringify(text)} is not an IPv4 subnet (like 10.89.0.0/24)`);
  const prefix = Number(m[2]);
  const address = parseIPv4(m[1]);
  const base = (address & mask(prefix)) >>> 0;
  if (base !== address) throw new AddressError(`subnet ${text} has host bits set: did you mean ${formatIPv4(base)}/${prefix}?`);
  if (prefix > 30) throw new AddressError(`subnet ${text} is too small: it needs room for a gateway and a container (/30 at most)`);
  return { base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.base)}/${s.prefix}`;
}

export function size(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function contains(s: Subnet, address: number): boolean {
  return ((address & mask(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(prefix)) >>> 0) === ((b.base & mask(prefix)) >>> 0);
}

/** Addresses a container may get: not the network's, not the broadcast. */
export function isHostAddress(s: Subnet, address: number): boolean {
  return contains(s, address) && address !== s.base && address !== s.base + size(s) - 1;
}

// Host ports for publishing: a port is free when nothing on the host listens on it (checked by
// binding it for a moment, TCP or UDP) and no berth container publishes it already (the table
// says). `-p 80` gets a port the kernel picks from its ephemeral range, as docker does.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { PortMapping, Protocol } from './options.js';
import type { TableState } from './firewall.js';
import { BerthError, type ErrorKind } from '../../errors.js';

export class PortInUseError extends BerthError {
  static override readonly kind: ErrorKind = 'conflict';
  override readonly name = 'PortInUseError';
}

/** Binds hostIp:port (0: any) for a moment; resolves to the port bound, rejects when it cannot be. */
function bindOnce(protocol: Protocol, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const socket = createSocket('udp4');
      socket.once('error', reject);
      socket.bind({ address: host, port, exclusive: true }, () => {
        const bound = socket.address().port;
        socket.close(() => resolve(bound));
      });
    } else {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host, port, exclusive: true }, () => {
        const address = server.address();
        const bound = typeof address === 'object' && address ? address.port : port;
        server.close(() => resolve(bound));
      });
    }
  });
}

function describe(p: PortMapping): string {
  return `${p.hostIp || '0.0.0.0'}:${p.hostPort}/${p.protocol}`;
}

function publishedClash(table: TableState, p: PortMapping): boolean {
  return table.ports.some((q) => q.protocol === p.protocol && q.hostPort === p.hostPort && (!q.hostIp || !p.hostIp || q.hostIp === p.hostIp));
}

/** Each mapping with its host port: given and free, or picked. */
export async function claimHostPorts(ports: PortMapping[], table: TableState): Promise<PortMapping[]> {
  const out: PortMapping[] = [];
  for (const p of ports) {
    const host = p.hostIp || '0.0.0.0';
    const mapping = { ...p };
    if (p.hostPort === 0) {
      // The kernel's pick is free on the host; retry the rare one a berth container publishes.
      for (let attempt = 0; ; attempt++) {
        mapping.hostPort = await bindOnce(p.protocol, host, 0);
        const clash = publishedClash(table, mapping) || out.some((o) => o.protocol === mapping.protocol && o.hostPort === mapping.hostPort);
        if (!clash) break;
        if (attempt > 20) throw new PortInUseError(`no free host port found for ${p.containerPort}/${p.protocol}`);
      }
    } else {
      if (publishedClash(table, p) || out.some((o) => o.protocol === p.protocol && o.hostPort === p.hostPort && (!o.hostIp || !p.hostIp || o.hostIp === p.hostIp))) {
        throw new PortInUseError(`port ${describe(p)} is already published by another container`);
      }
      try {
        await bindOnce(p.protocol, host, p.hostPort);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new PortInUseError(`port ${describe(p)} is already in use on the host`);
        if (code === 'EADDRNOTAVAIL') throw new PortInUseError(`cannot publish on ${p.hostIp}: not an address of this host`);
        throw new PortInUseError(`cannot publish ${describe(p)}: ${(err as Error).message}`);
      }
    }
    out.push(mapping);
  }
  return out;
}

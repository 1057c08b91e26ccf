/**
 * ipvsadm's language: an op as the argv `ipvsadm` takes (also one line of `ipvsadm -R`), and a
 * table as `ipvsadm -Ln` lists it. Used by the memory driver's change log and the demo, and by
 * the ipvsadm driver.
 */
import type { Forward } from '../config/types.js';
import { endpointKey, type Destination, type IpvsOp, type IpvsTable, type VirtualService } from './types.js';

const FORWARD_FLAG: Record<Forward, string> = { masq: '-m', route: '-g', tunnel: '-i' };
const FORWARD_NAME: Record<Forward, string> = { masq: 'Masq', route: 'Route', tunnel: 'Tunnel' };

function serviceArgs(s: VirtualService): string[] {
  if (s.protocol === 'fwmark') return s.ipv6 ? ['-f', String(s.fwmark ?? 0), '-6'] : ['-f', String(s.fwmark ?? 0)];
  if (!s.endpoint) throw new Error(`service without address (${s.protocol})`);
  return [s.protocol === 'tcp' ? '-t' : '-u', endpointKey(s.endpoint)];
}

function serviceOptions(s: VirtualService): string[] {
  const args = ['-s', s.scheduler];
  if (s.persistenceSec !== undefined && s.persistenceSec > 0) {
    args.push('-p', String(s.persistenceSec));
    if (s.persistenceNetmask) args.push('-M', s.persistenceNetmask);
  }
  return args;
}

function destArgs(d: Destination, withOptions: boolean): string[] {
  const args = ['-r', endpointKey(d.endpoint)];
  if (!withOptions) return args;
  args.push(FORWARD_FLAG[d.forward], '-w', String(d.weight));
  if (d.upperThreshold > 0) args.push('-x', String(d.upperThreshold));
  if (d.lowerThreshold > 0) args.push('-y', String(d.lowerThreshold));
  return args;
}

/** argv after `ipvsadm` for one op */
export function opArgv(op: IpvsOp): string[] {
  switch (op.op) {
    case 'add-service': return ['-A', ...serviceArgs(op.service), ...serviceOptions(op.service)];
    case 'edit-service': return ['-E', ...serviceArgs(op.service), ...serviceOptions(op.service)];
    case 'delete-service': return ['-D', ...serviceArgs(op.service)];
    case 'add-dest': return ['-a', ...serviceArgs(op.service), ...destArgs(op.dest, true)];
    case 'edit-dest': return ['-e', ...serviceArgs(op.service), ...destArgs(op.dest, true)];
    case 'delete-dest': return ['-d', ...serviceArgs(op.service), ...destArgs(op.dest, false)];
  }
}

/** the op as a command line an operator could paste */
export function opCommand(op: IpvsOp): string {
  return ['ipvsadm', ...opArgv(op)].join(' ');
}

/** the table as `ipvsadm -Ln` shows it (services and destinations sorted for a stable view) */
export function formatListing(table: IpvsTable): string {
  const lines = [
    'IP Virtual Server version 1.2.1 (size=4096)',
    'Prot LocalAddress:Port Scheduler Flags',
    '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
  ];
  const services = [...table.services.values()].sort((a, b) => sortKey(a.service).localeCompare(sortKey(b.service)));
  for (const { service, destinations } of services) {
    const head = service.protocol === 'fwmark'
      ? `FWM  ${service.fwmark ?? 0}${service.ipv6 ? ' IPv6' : ''}`
      : `${service.protocol.toUpperCase()}  ${service.endpoint ? endpointKey(service.endpoint) : '?'}`;
    let flags = '';
    if (service.persistenceSec) {
      flags = ` persistent ${service.persistenceSec}`;
      if (service.persistenceNetmask && service.persistenceNetmask !== '255.255.255.255') {
        flags += ` mask ${service.persistenceNetmask}`;
      }
    }
    lines.push(`${head} ${service.scheduler}${flags}`);
    const dests = [...destinations.values()].sort((a, b) => endpointKey(a.endpoint).localeCompare(endpointKey(b.endpoint)));
    for (const d of dests) {
      lines.push(
        `  -> ${endpointKey(d.endpoint).padEnd(28)} ${FORWARD_NAME[d.forward].padEnd(7)} ${String(d.weight).padEnd(6)} `
        + `${String(d.activeConns).padEnd(10)} ${d.inactiveConns}`,
      );
    }
  }
  return lines.join('\n');
}

function sortKey(s: VirtualService): string {
  return s.protocol === 'fwmark' ? `~${String(s.fwmark).padStart(10, '0')}${s.ipv6 ? '6' : ''}` : `${s.protocol} ${s.endpoint ? endpointKey(s.endpoint) : ''}`;
}

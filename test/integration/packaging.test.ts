/**
 * What ships besides the code: the systemd unit and the Dockerfile (no docker here, so they are
 * checked by parsing), and the CLI's help on every command.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runLvsd } from '../support/cli.js';

/** systemd's unit syntax: [Section] then Key=Value lines; keys may repeat */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const sec = /^\[([A-Za-z]+)\]$/.exec(line);
    if (sec) {
      section = new Map();
      out.set(sec[1]!, section);
      return;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`lvsd.service:${i + 1}: not a [Section] or Key=Value line: ${raw}`);
    section.set(kv[1]!, [...(section.get(kv[1]!) ?? []), kv[2]!]);
  });
  return out;
}

/** Dockerfile instructions, continuation lines joined */
function parseDockerfile(text: string): { op: string; args: string; line: number }[] {
  const out: { op: string; args: string; line: number }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!.trim();
    const start = i + 1;
    if (l === '' || l.startsWith('#')) continue;
    while (l.endsWith('\\') && i + 1 < lines.length) l = `${l.slice(0, -1)} ${lines[++i]!.trim()}`;
    const m = /^([A-Z]+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile:${start}: not an instruction: ${l}`);
    out.push({ op: m[1]!, args: m[2]!, line: start });
  }
  return out;
}

describe('packaging', () => {
  it('the systemd unit: validate before start, reload by SIGHUP, VIPs released after any stop, only the capabilities needed', async () => {
    const unit = parseUnit(readFileSync(path.join(ROOT, 'config/lvsd.service'), 'utf8'));
    const svc = unit.get('Service')!;
    expect(svc.get('Type')).toEqual(['simple']);
    expect(svc.get('ExecStartPre')).toEqual(['/usr/bin/lvsd validate -c /etc/lvsd/lvsd.yaml']);
    expect(svc.get('ExecStart')).toEqual(['/usr/bin/lvsd run -c /etc/lvsd/lvsd.yaml']);
    expect(svc.get('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    expect(svc.get('ExecStopPost')).toEqual(['/usr/bin/lvsd release -c /etc/lvsd/lvsd.yaml']);
    expect(svc.get('CapabilityBoundingSet')![0]!.split(' ').sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    expect(svc.get('StateDirectory')).toEqual(['lvsd']);
    expect(svc.get('RuntimeDirectory')).toEqual(['lvsd']);
    expect(unit.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
    // the commands the unit runs exist in this lvsd
    const help = await runLvsd(['--help']);
    for (const c of ['run', 'validate', 'release']) expect(help.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
  });

  it('the Dockerfile: two stages, pinned base, the runtime tools, exec-form entrypoint, sources that exist', () => {
    const ins = parseDockerfile(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
    const from = ins.filter((i) => i.op === 'FROM');
    expect(from).toHaveLength(2);
    for (const f of from) expect(f.args).toMatch(/^node:20-bookworm-slim\b/);
    expect(from[0]!.args).toMatch(/ AS build$/);
    const runtime = ins.slice(ins.indexOf(from[1]!));
    const apt = runtime.find((i) => i.op === 'RUN' && i.args.includes('apt-get install'))!;
    for (const pkg of ['ipvsadm', 'fping', 'iproute2', 'iputils-arping']) expect(apt.args.split(/\s+/)).toContain(pkg);
    for (const r of ins.filter((i) => i.op === 'RUN' && i.args.includes('apt-get install'))) {
      expect(r.args).toContain('--no-install-recommends');
      expect(r.args).toContain('rm -rf /var/lib/apt/lists/*');
    }
    expect(JSON.parse(runtime.find((i) => i.op === 'ENTRYPOINT')!.args)).toEqual(['lvsd']);
    expect(JSON.parse(runtime.find((i) => i.op === 'CMD')!.args)).toEqual(['run', '-c', '/etc/lvsd/lvsd.yaml']);
    for (const c of ins.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
      const parts = c.args.split(/\s+/);
      for (const src of parts.slice(0, -1)) expect(existsSync(path.join(ROOT, src)), `Dockerfile:${c.line}: ${src}`).toBe(true);
    }
    expect(ins.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
  });

  it('every command has --help', async () => {
    const top = await runLvsd(['--help']);
    expect(top.code).toBe(0);
    const commands = [...top.stdout.matchAll(/^ {2}([a-z]+)(?:\|[a-z]+)?\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['run', 'validate', 'status', 'drain', 'maint', 'ready', 'weight', 'check', 'reload', 'release', 'demo']));
    for (const c of commands) {
      const r = await runLvsd([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`^Usage: lvsd ${c}\\b`));
    }
  }, 60_000);
});

/**
 * The files and programs a config names, checked by loadConfigFile (validate, run and reload share
 * it): each problem at the FILE:LINE:COL where the path is written.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/core/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lvsd-refs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string, mode = 0o600): string => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
};

/** load `yaml` from a file; the formatted problems, or [] when it loads */
async function problems(yaml: string, env: NodeJS.ProcessEnv = { PATH: '/usr/bin:/bin' }, checkFiles = true): Promise<string[]> {
  const cfg = file('lvsd.yaml', yaml);
  try {
    await loadConfigFile(cfg, { checkFiles, io: { env } });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => formatProblem(p).replace(`${cfg}:`, 'C:'));
    throw e;
  }
}

const good = {
  token: file('token', 'a-token-of-32-characters-0123456\n'),
  secret: file('secret', 'k\n', 0o640),
  program: file('hook.sh', '#!/bin/sh\nexit 0\n', 0o755),
  state: path.join(dir, 'state'),
};
const service = `services:
  - name: web
    address: 192.0.2.10:80
    realservers: [{ address: "198.51.100.1:80" }]`;

describe('files and programs the config names', () => {
  it('accepts a config whose files and programs are all usable', async () => {
    expect(await problems(`api: { listen: false, socket: false, token_file: ${good.token} }
state_dir: ${good.state}
alerts:
  - name: hook
    webhook: { url: "http://127.0.0.1:9/", secret_file: ${good.secret} }
  - name: page
    exec: [${good.program}, "--now"]
failover:
  interface: eth0
  virtual_router_id: 51
  virtual_addresses: [192.0.2.10/24]
  track: [{ exec: ["true"], weight: -10 }]
  notify: { master: [${good.program}], all: [sh, -c, "exit 0"] }
${service}
`)).toEqual([]);
  });

  it('reports each bad token, secret, program and state_dir where it is written', async () => {
    const short = file('short-token', 'too-short\n');
    const open = file('open-secret', 'k\n', 0o644);
    const groupWritable = file('gw-secret', 'k\n', 0o620);
    const empty = file('empty-secret', '  \n');
    const notExec = file('not-exec.sh', '#!/bin/sh\n', 0o644);
    const notDir = file('state-file', '');
    const got = await problems(`api: { listen: false, socket: false, token_file: ${short} }
state_dir: ${notDir}
alerts:
  - name: a
    webhook: { url: "http://127.0.0.1:9/", secret_file: ${path.join(dir, 'nope')} }
  - name: b
    webhook: { url: "http://127.0.0.1:9/", secret_file: ${open} }
  - name: c
    webhook: { url: "http://127.0.0.1:9/", secret_file: ${groupWritable} }
  - name: d
    webhook: { url: "http://127.0.0.1:9/", secret_file: ${empty} }
  - name: e
    exec: [${notExec}]
  - name: f
    exec: [no-such-program-lvsd]
  - name: g
    exec: [bin/relative]
failover:
  interface: eth0
  virtual_router_id: 51
  virtual_addresses: [192.0.2.10/24]
  track: [{ exec: [${path.join(dir, "missing-track")}], weight: -10 }]
  notify: { fault: [${dir}] }
${service}
`);
    expect(got).toEqual([
      `C:1:50: api.token_file: the token in ${short} has 9 characters: at least 16 needed`,
      `C:2:12: state_dir: ${notDir} exists and is not a directory`,
      `C:5:57: alerts[0].webhook.secret_file: cannot read ${path.join(dir, 'nope')}: ENOENT: no such file or directory, stat '${path.join(dir, 'nope')}'`,
      `C:7:57: alerts[1].webhook.secret_file: ${open} is readable by others (mode 644): chmod 600 or 640 it`,
      `C:9:57: alerts[2].webhook.secret_file: ${groupWritable} is writable by group or others (mode 620): chmod 600 it`,
      `C:11:57: alerts[3].webhook.secret_file: ${empty} is empty`,
      `C:13:12: alerts[4].exec[0]: program ${notExec} cannot be run: EACCES: permission denied, access '${notExec}'`,
      `C:15:12: alerts[5].exec[0]: program no-such-program-lvsd is not on PATH (/usr/bin:/bin) or in the system directories`,
      `C:17:12: alerts[6].exec[0]: program bin/relative: give an absolute path or a name looked up on PATH (the daemon's working directory is not the config's)`,
      `C:22:20: failover.track[0].exec[0]: program ${path.join(dir, 'missing-track')} cannot be run: ENOENT: no such file or directory, stat '${path.join(dir, 'missing-track')}'`,
      `C:23:21: failover.notify.fault[0]: program ${dir} is not a regular file`,
    ]);
  });

  it('checks an exec check\'s program once, however many realservers inherit it, and reports it once', async () => {
    const rs = Array.from({ length: 300 }, (_, i) => `      - address: "198.51.100.${(i % 250) + 1}:${80 + Math.floor(i / 250)}"`).join('\n');
    expect(await problems(`services:
  - name: dns
    address: 192.0.2.10:53
    check: { type: exec, command: [/opt/none/check-dns, "{address}"] }
    realservers:
${rs}
      - address: "198.51.100.1:99"
        check: { type: exec, command: ["{address}-check"] }
      - address: "198.51.100.2:99"
        check: { type: exec, command: [/opt/none/check-dns] }
`)).toEqual([
      'C:4:36: services[0].check.command[0]: program /opt/none/check-dns cannot be run: ENOENT: no such file or directory, stat \'/opt/none/check-dns\' (named in 1 more place)',
    ]);
  });

  it('a state_dir that does not exist yet is fine where it can be created, not under a file', async () => {
    const under = file('plain', '');
    expect(await problems(`state_dir: ${path.join(dir, 'new', 'deeper')}\n${service}\n`)).toEqual([]);
    expect(await problems(`state_dir: ${path.join(under, 'x')}\n${service}\n`)).toEqual([
      `C:1:12: state_dir: ${path.join(under, 'x')} cannot be created: ${under} is not a directory`,
    ]);
    mkdirSync(path.join(dir, 'made'), { recursive: true });
    expect(await problems(`state_dir: ${path.join(dir, 'made')}\n${service}\n`)).toEqual([]);
  });

  it('checkFiles: false checks the text only', async () => {
    expect(await problems(`api: { token_file: /nonexistent/token }\n${service}\n`, undefined, false)).toEqual([]);
    expect(await problems(`api: { token_file: /nonexistent/token }\n${service}\n`)).toEqual([
      'C:1:20: api.token_file: cannot read /nonexistent/token: ENOENT: no such file or directory, stat \'/nonexistent/token\'',
    ]);
  });
});

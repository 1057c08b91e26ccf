/**
 * A stand-in for ipvsadm, for tests on a host whose kernel has no IPVS. It speaks the subset lvsd
 * uses, in ipvsadm 1.31's words and layouts (test/unit/fixtures/ipvsadm): -A -E -D -a -e -d -C,
 * -R (a batch on stdin, carrying on past a failing line and exiting with the last line's status),
 * -S -n, and -L -n [--exact] [--thresholds | --stats | --rate]. The "kernel" is table.json in the
 * shim's directory: written whole (temp file + rename, so a reader never sees half of it), every
 * change under a lock file, one -R line at a time (a reader sees a batch half-applied, as with the
 * kernel).
 *
 * The test steers it through faults.json in the same directory (read at every call):
 *   fail:  { calls?: N, message?, code?, only?: 'read'|'write' }  the next N calls (absent: every
 *          call until cleared) print `message` on stderr and exit `code` (2), changing nothing
 *   hang:  true | { only?: 'read'|'write' }   sleep until killed
 *   batch: { after: K, message?, code? }      the next -R applies its first K lines, then fails
 *          (exit 2) without the rest; used once (the shim removes it)
 *   slowMs: X       sleep X ms before doing anything
 *   lineMs: Y       sleep Y ms before each -R line (outside the lock)
 * `only`: read = -S and -L, write = everything that changes the table.
 *
 * Every call appends JSON lines to calls.jsonl: {ev:'start', pid, at, born, args, input?}, for -R one
 * {ev:'line', pid, at, line, ok} per line applied or refused, and {ev:'end', pid, at, code}. A
 * call killed (timeout, kill -9) has a start and no end.
 *
 * IPVSADM_SHIM_QUIET=1 in the environment: no log entry and no faults (the test's own reads).
 *
 * Run through the `ipvsadm` file test/support/ipvsadm-shim.ts writes: `main(dir)` of this module.
 */
import { appendFileSync, closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms) {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

function readJson(file, fallback) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return fallback;
  }
}

function writeJson(file, value) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value));
  renameSync(tmp, file);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** mutual exclusion between shim processes: a lock file holding the owner's PID; a dead owner's lock is taken over */
function withLock(dir, fn) {
  const lock = path.join(dir, 'table.lock');
  const t0 = Date.now();
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
    let owner = 0;
    try {
      owner = Number(readFileSync(lock, 'utf8'));
    } catch {
      continue;
    }
    // an owner killed while it held the lock (rare: the lock is held for one read-modify-write)
    if ((owner > 0 && !alive(owner)) || (owner === 0 && Date.now() - t0 > 2000)) {
      try {
        unlinkSync(lock);
      } catch {
        // someone else took it over
      }
      continue;
    }
    sleep(2);
  }
  try {
    return fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // taken over meanwhile
    }
  }
}

class IpvsadmError extends Error {}

/** "-Ln" → "-L", "-n"; other words as they are */
function splitFlags(argv) {
  const out = [];
  for (const a of argv) {
    if (/^-[A-Za-z]{2,}$/.test(a) && /^-[LlnSCRZ]+$/.test(a)) for (const c of a.slice(1)) out.push(`-${c}`);
    else out.push(a);
  }
  return out;
}

const WITH_VALUE = new Set(['-t', '-u', '-f', '-s', '-p', '-M', '-r', '-w', '-x', '-y', '--tun-type', '--pe', '-b']);
const COMMANDS = new Set(['-A', '-E', '-D', '-C', '-a', '-e', '-d', '-R', '-S', '-L', '-l', '-Z']);
const FORWARD = { '-m': 'masq', '--masquerading': 'masq', '-g': 'route', '--gatewaying': 'route', '-i': 'tunnel', '--ipip': 'tunnel' };

function parse(argv) {
  const words = splitFlags(argv);
  let command;
  const opts = new Map();
  const flags = new Set();
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (COMMANDS.has(w)) {
      if (command !== undefined && command !== w) throw new IpvsadmError('Two or more commands specified');
      command = w;
    } else if (WITH_VALUE.has(w)) {
      if (words[i + 1] === undefined) throw new IpvsadmError(`option ${w} requires an argument`);
      opts.set(w, words[++i]);
    } else if (w.startsWith('-')) {
      flags.add(w);
    } else {
      throw new IpvsadmError(`unexpected argument ${w}`);
    }
  }
  if (command === undefined) throw new IpvsadmError('no command specified');
  return { command, opts, flags };
}

function serviceOf(p) {
  const t = p.opts.get('-t');
  const u = p.opts.get('-u');
  const f = p.opts.get('-f');
  if (t !== undefined) return { proto: 'tcp', addr: t };
  if (u !== undefined) return { proto: 'udp', addr: u };
  if (f !== undefined) return { proto: 'fwmark', addr: f, ...(p.flags.has('-6') ? { ipv6: true } : {}) };
  throw new IpvsadmError('Service address not specified');
}

const sameService = (a, b) => a.proto === b.proto && a.addr === b.addr && (a.ipv6 ?? false) === (b.ipv6 ?? false);

function number(text, fallback, what) {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) throw new IpvsadmError(`illegal ${what} specified`);
  return Number(text);
}

/** one command against the table (mutated); throws IpvsadmError with the kernel's word for a refusal */
function apply(table, p) {
  if (p.command === '-C') {
    table.services = [];
    return;
  }
  const id = serviceOf(p);
  const svc = table.services.find((s) => sameService(s, id));
  switch (p.command) {
    case '-A':
    case '-E': {
      if (p.command === '-A' && svc) throw new IpvsadmError('Service already exists');
      if (p.command === '-E' && !svc) throw new IpvsadmError('No such service');
      const persistent = p.opts.has('-p') || p.flags.has('-p') ? number(p.opts.get('-p'), 300, 'timeout') : null;
      const fields = { sched: p.opts.get('-s') ?? 'wlc', persistent, netmask: persistent !== null ? (p.opts.get('-M') ?? '255.255.255.255') : null };
      if (svc) Object.assign(svc, fields);
      else table.services.push({ ...id, ...fields, dests: [] });
      return;
    }
    case '-D':
      if (!svc) throw new IpvsadmError('No such service');
      table.services = table.services.filter((s) => s !== svc);
      return;
    case '-a':
    case '-e':
    case '-d': {
      const addr = p.opts.get('-r');
      if (addr === undefined) throw new IpvsadmError('No destination specified');
      if (!svc) throw new IpvsadmError('Service not defined');
      const dest = svc.dests.find((d) => d.addr === addr);
      if (p.command === '-a' && dest) throw new IpvsadmError('Destination already exists');
      if (p.command !== '-a' && !dest) throw new IpvsadmError('No such destination');
      if (p.command === '-d') {
        svc.dests = svc.dests.filter((d) => d !== dest);
        return;
      }
      let fwd = 'route';
      for (const f of p.flags) fwd = FORWARD[f] ?? fwd;
      const fields = {
        fwd, weight: number(p.opts.get('-w'), 1, 'weight'), x: number(p.opts.get('-x'), 0, 'upper threshold'), y: number(p.opts.get('-y'), 0, 'lower threshold'),
      };
      if (fields.weight > 65535) throw new IpvsadmError('illegal weight specified');
      if (dest) Object.assign(dest, fields);
      else svc.dests.push({ addr, ...fields, active: 0, inactive: 0 });
      return;
    }
    default:
      throw new IpvsadmError(`command ${p.command} not supported by the shim`);
  }
}

const PROT = { tcp: 'TCP', udp: 'UDP', fwmark: 'FWM' };
const FWD_NAME = { masq: 'Masq', route: 'Route', tunnel: 'Tunnel' };
const FWD_FLAG = { masq: '-m', route: '-g', tunnel: '-i' };
const serviceFlag = (s) => (s.proto === 'fwmark' ? `-f ${s.addr}${s.ipv6 ? ' -6' : ''}` : `${s.proto === 'tcp' ? '-t' : '-u'} ${s.addr}`);

/** `ipvsadm -S -n`: the -R input format */
function save(table) {
  const lines = [];
  for (const s of table.services) {
    let head = `-A ${serviceFlag(s)} -s ${s.sched}`;
    if (s.persistent !== null) head += ` -p ${s.persistent}${s.netmask && s.netmask !== '255.255.255.255' ? ` -M ${s.netmask}` : ''}`;
    lines.push(head);
    for (const d of s.dests) lines.push(`-a ${serviceFlag(s)} -r ${d.addr} ${FWD_FLAG[d.fwd]} -w ${d.weight}${d.fwd === 'tunnel' ? ' --tun-type ipip' : ''}`);
  }
  return lines.map((l) => `${l}\n`).join('');
}

const col = (v, w = 10) => String(v).padEnd(w);
const rcol = (v, w = 8) => String(v).padStart(w);

function serviceHead(s) {
  return s.proto === 'fwmark' ? `FWM  ${s.addr}${s.ipv6 ? ' IPv6' : ''}` : `${PROT[s.proto]}  ${s.addr}`;
}

function serviceFlags(s) {
  let out = ` ${s.sched}`;
  if (s.persistent !== null) out += ` persistent ${s.persistent}${s.netmask && s.netmask !== '255.255.255.255' ? ` mask ${s.netmask}` : ''}`;
  return out;
}

/** `ipvsadm -L -n [--exact] [--thresholds|--stats|--rate]` in 1.31's layouts */
function list(table, flags) {
  const out = ['IP Virtual Server version 1.2.1 (size=4096)'];
  if (flags.has('--thresholds')) {
    out.push('Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ', '  -> RemoteAddress:Port');
    for (const s of table.services) {
      out.push(`${serviceHead(s)}${serviceFlags(s)}`);
      for (const d of s.dests) out.push(`  -> ${d.addr.padEnd(29)} ${col(d.x)} ${col(d.y)} ${col(d.active)} ${col(d.inactive)}`);
    }
  } else if (flags.has('--stats') || flags.has('--rate')) {
    out.push(flags.has('--stats')
      ? 'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes'
      : 'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS', '  -> RemoteAddress:Port');
    const zeros = [0, 0, 0, 0, 0].map((z) => rcol(z)).join(' ');
    for (const s of table.services) {
      out.push(`${serviceHead(s).padEnd(34)} ${zeros}`);
      for (const d of s.dests) out.push(`  -> ${d.addr.padEnd(29)} ${zeros}`);
    }
  } else {
    out.push('Prot LocalAddress:Port Scheduler Flags', '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn');
    for (const s of table.services) {
      out.push(`${serviceHead(s)}${serviceFlags(s)}`);
      for (const d of s.dests) out.push(`  -> ${d.addr.padEnd(28)} ${FWD_NAME[d.fwd].padEnd(7)} ${String(d.weight).padEnd(6)} ${col(d.active)} ${d.inactive}`);
    }
  }
  return out.map((l) => `${l}\n`).join('');
}

function isWrite(command) {
  return !['-S', '-L', '-l'].includes(command);
}

function readStdin() {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

export function main(dir) {
  const tableFile = path.join(dir, 'table.json');
  const faultsFile = path.join(dir, 'faults.json');
  const logFile = path.join(dir, 'calls.jsonl');
  // the test's own look at the table: no log entry, no faults
  const quiet = process.env.IPVSADM_SHIM_QUIET === '1';
  const log = (entry) => {
    if (!quiet) appendFileSync(logFile, `${JSON.stringify({ ...entry, pid: process.pid, at: Date.now() })}\n`);
  };
  const args = process.argv.slice(2);
  let parsed;
  let parseError;
  try {
    parsed = parse(args);
  } catch (e) {
    parseError = e;
  }
  const input = parsed?.command === '-R' ? readStdin() : undefined;
  // born: when this process started (before node's own start-up, which costs 0.05-0.5 s on a busy machine)
  log({ ev: 'start', born: Math.round(performance.timeOrigin), args, ...(input !== undefined ? { input: input.split('\n').filter((l) => l.trim() !== '') } : {}) });
  const exit = (code, stdout = '', stderr = '') => {
    if (stdout) writeSync(1, stdout);
    if (stderr) writeSync(2, stderr);
    log({ ev: 'end', code });
    process.exit(code);
  };
  if (parseError) exit(2, '', `${parseError.message}\n`);

  const faults = quiet ? {} : readJson(faultsFile, {});
  const kind = isWrite(parsed.command) ? 'write' : 'read';
  const applies = (f) => f && (f.only === undefined || f.only === kind);
  sleep(faults.slowMs ?? 0);
  if (faults.hang === true || (typeof faults.hang === 'object' && applies(faults.hang))) {
    // until killed: a timer keeps the event loop alive, the process answers nothing
    setInterval(() => {}, 1 << 30);
    return;
  }
  if (applies(faults.fail)) {
    // the count is shared by overlapping calls: taken under the lock
    const fail = withLock(dir, () => {
      const now = readJson(faultsFile, {});
      if (!applies(now.fail)) return undefined;
      if (now.fail.calls !== undefined) {
        if (now.fail.calls <= 0) return undefined;
        writeJson(faultsFile, { ...now, fail: { ...now.fail, calls: now.fail.calls - 1 } });
      }
      return now.fail;
    });
    if (fail) exit(fail.code ?? 2, '', `${fail.message ?? 'ipvsadm: injected failure (shim)'}\n`);
  }

  const readTable = () => readJson(tableFile, { services: [] });
  switch (parsed.command) {
    case '-S':
      exit(0, save(readTable()));
      break;
    case '-L':
    case '-l':
      exit(0, list(readTable(), parsed.flags));
      break;
    case '-R': {
      const lines = input.split('\n').filter((l) => l.trim() !== '');
      // the batch fault is used once: taken under the lock
      const batch = faults.batch && withLock(dir, () => {
        const now = readJson(faultsFile, {});
        if (!now.batch) return undefined;
        const { batch: used, ...rest } = now;
        writeJson(faultsFile, rest);
        return used;
      });
      let code = 0;
      let stderr = '';
      for (const [i, line] of lines.entries()) {
        if (batch && i >= batch.after) {
          exit(batch.code ?? 2, '', `${stderr}${batch.message ?? `ipvsadm: batch broken off after ${batch.after} lines (shim)`}\n`);
        }
        sleep(faults.lineMs ?? 0);
        try {
          const p = parse(line.trim().split(/\s+/));
          withLock(dir, () => {
            const table = readTable();
            apply(table, p);
            writeJson(tableFile, table);
          });
          log({ ev: 'line', line, ok: true });
          code = 0;
        } catch (e) {
          if (!(e instanceof IpvsadmError)) throw e;
          log({ ev: 'line', line, ok: false, error: e.message });
          stderr += `${e.message}\n`;
          code = 255;
        }
      }
      exit(code, '', stderr);
      break;
    }
    default:
      try {
        withLock(dir, () => {
          const table = readTable();
          apply(table, parsed);
          writeJson(tableFile, table);
        });
      } catch (e) {
        if (!(e instanceof IpvsadmError)) throw e;
        exit(255, '', `${e.message}\n`);
      }
      exit(0);
  }
}

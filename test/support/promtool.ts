/** `promtool check metrics` on exposition text: its exit code and everything it printed. */
import { spawn } from 'node:child_process';

export function promtoolCheck(promtool: string, text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, output }));
    p.stdin.end(text);
  });
}

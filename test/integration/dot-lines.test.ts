/*
 * Messages made of dot lines (".\n", "..\r\n") cost the gateway about what
 * ordinary text of the same size costs, in CPU time and in memory: the DATA
 * decoder and the spool work in chunks, not per line. Measured on the gateway
 * process itself (/proc/PID/stat and status) while a raw socket sends 2 MiB of
 * each; the stored dot lines are checked byte for byte.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Gateway, startGateway } from '../harness/gateway.js';
import { readQueued } from '../harness/queue.js';
import { openTransaction } from '../harness/smtp.js';

const SIZE = 2 << 20;

/** CPU seconds (user + system) the process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident memory of the process so far, in MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

interface Cost {
  cpu: number;
  peakGrowthMb: number;
  reply: string;
}

describe('messages of dot lines', () => {
  let gw: Gateway;
  let pid: number;
  before(async () => {
    gw = await startGateway();
    pid = gw.process.pid!;
  });
  after(async () => {
    await gw.stop();
    gw.cleanup();
  });

  /** Sends `unit` repeated to SIZE bytes as one message; what it cost the gateway. */
  async function send(unit: string): Promise<Cost> {
    const smtp = await openTransaction(gw.port);
    assert.equal((await smtp.command('DATA')).code, 354);
    const body = Buffer.from(unit.repeat(Math.floor(SIZE / unit.length)), 'latin1');
    const cpu = cpuSeconds(pid);
    const peak = peakRssMb(pid);
    await smtp.send(body);
    // CRLF first: after a bare LF line, ".\r\n" alone does not end the message.
    smtp.write('\r\n.\r\n');
    const reply = (await smtp.reply(60_000)).text;
    const round = (n: number) => Math.round(n * 100) / 100;
    const cost = { cpu: round(cpuSeconds(pid) - cpu), peakGrowthMb: round(peakRssMb(pid) - peak), reply };
    smtp.close();
    return cost;
  }

  it('cost about what text does, and are stored intact', async (t) => {
    await send('warm-up line\r\n');
    const text = await send(`${'x'.repeat(76)}\r\n`);
    const stuffed = await send('..\r\n');
    const bareLf = await send('.\n');
    const report = JSON.stringify({ text, stuffed, bareLf });
    t.diagnostic(report);

    assert.match(text.reply, /^250 /);
    assert.match(stuffed.reply, /^250 /, report);
    assert.match(bareLf.reply, /^550 5\.5\.2 Error: bare <LF> received$/, report);
    const id = /queued as (\S+)/.exec(stuffed.reply)![1]!;
    assert.ok(readQueued(gw.queueDir, id).content.equals(Buffer.from(`${'.\r\n'.repeat(SIZE / 4)}\r\n`)), 'stored dot lines');

    // Per MiB of dot lines there were a million buffers: 3 s of CPU and 150 MB more memory.
    const budget = 3 * text.cpu + 0.3;
    assert.ok(stuffed.cpu < budget, `"..\\r\\n" cost ${stuffed.cpu} s of CPU, text ${text.cpu} s: ${report}`);
    assert.ok(bareLf.cpu < budget, `".\\n" cost ${bareLf.cpu} s of CPU, text ${text.cpu} s: ${report}`);
    for (const [name, cost] of Object.entries({ stuffed, bareLf })) {
      assert.ok(cost.peakGrowthMb < 40, `${name} raised the peak RSS by ${cost.peakGrowthMb.toFixed(1)} MB: ${report}`);
    }
  });
});

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, mock, test } from 'node:test';
import { copyName, deliverToMaildir, type MaildirDelivery, MaildirError, uniqueName } from '../../core/delivery/maildir.js';

const PREPEND = 'Return-Path: <sender@example.net>\r\nDelivered-To: alice@example.com\r\n';
const MESSAGE = 'Subject: hello\r\n\r\nline one\r\nline two\r\n';

/** A stream of `data` in chunks of `size` bytes. */
function chunked(data: Buffer | string, size: number): Readable {
  const bytes = Buffer.from(data);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
}

const toLf = (text: Buffer | string): Buffer =>
  Buffer.from(Buffer.from(text).toString('latin1').replaceAll('\r\n', '\n'), 'latin1');

let root = '';
let counter = 0;
/** A fresh Maildir path per test, not created yet. */
const freshMaildir = (): string => join(root, `box${counter++}`, 'Maildir');

const delivery = (maildir: string, extra: Partial<MaildirDelivery> = {}): MaildirDelivery => ({
  maildir,
  prepend: PREPEND,
  message: () => chunked(MESSAGE, 16),
  hostname: 'mx.example.com',
  ...extra,
});

async function listing(maildir: string, sub: 'tmp' | 'new' | 'cur'): Promise<string[]> {
  return readdir(join(maildir, sub));
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'qgate-maildir-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface NameRow {
  why: string;
  now: Date;
  hostname: string;
  sequence: number;
  pid?: number;
  expected: string;
}

const NAME_ROWS: NameRow[] = [
  {
    why: 'seconds, microseconds, pid, sequence, host',
    now: new Date(1700000000123),
    hostname: 'mx.example.com',
    sequence: 7,
    pid: 4242,
    expected: '1700000000.M123000P4242Q7.mx.example.com',
  },
  {
    why: 'a whole second has zero microseconds',
    now: new Date(5000),
    hostname: 'h',
    sequence: 0,
    pid: 1,
    expected: '5.M0P1Q0.h',
  },
  {
    why: '"/" in the host is escaped as \\057',
    now: new Date(0),
    hostname: 'a/b',
    sequence: 1,
    pid: 2,
    expected: '0.M0P2Q1.a\\057b',
  },
  {
    why: '":" in the host is escaped as \\072 (it starts the info part)',
    now: new Date(0),
    hostname: 'a:b:c',
    sequence: 1,
    pid: 2,
    expected: '0.M0P2Q1.a\\072b\\072c',
  },
  { why: 'pid defaults to this process', now: new Date(1000), hostname: 'h', sequence: 3, expected: `1.M0P${process.pid}Q3.h` },
];

describe('uniqueName', () => {
  for (const row of NAME_ROWS) {
    test(row.why, () => {
      assert.equal(uniqueName(row.now, row.hostname, row.sequence, row.pid), row.expected);
    });
  }

  test('1000 sequence numbers in one millisecond give 1000 names', () => {
    const now = new Date(1700000000123);
    const names = new Set(Array.from({ length: 1000 }, (_, i) => uniqueName(now, 'h', i)));
    assert.equal(names.size, 1000);
  });
});

describe('deliverToMaildir', () => {
  test('creates the Maildir, lands the exact bytes in new/, leaves tmp/ empty', async () => {
    const maildir = freshMaildir();
    const result = await deliverToMaildir(delivery(maildir));
    const expected = toLf(PREPEND + MESSAGE);

    assert.deepEqual(await listing(maildir, 'new'), [result.file.slice(result.file.lastIndexOf('/') + 1)]);
    assert.equal(result.file, join(maildir, 'new', (await listing(maildir, 'new'))[0]!));
    assert.deepEqual(await readFile(result.file), expected);
    assert.equal(result.size, expected.length);
    assert.deepEqual(await listing(maildir, 'tmp'), []);
    assert.deepEqual(await listing(maildir, 'cur'), []);
    for (const dir of [maildir, join(maildir, 'tmp'), join(maildir, 'new'), join(maildir, 'cur')]) {
      assert.equal((await stat(dir)).mode & 0o777, 0o700, dir);
    }
    assert.equal((await stat(result.file)).mode & 0o777, 0o600);
    assert.match(result.file, /\/new\/\d+\.M\d+P\d+Q\d+\.mx\.example\.com$/);
  });

  test("lineEnding 'crlf' keeps the bytes as stored", async () => {
    const result = await deliverToMaildir(delivery(freshMaildir(), { lineEnding: 'crlf' }));
    assert.deepEqual(await readFile(result.file), Buffer.from(PREPEND + MESSAGE));
    assert.equal(result.size, Buffer.byteLength(PREPEND + MESSAGE));
  });

  test('delivers into an existing Maildir', async () => {
    const maildir = freshMaildir();
    await deliverToMaildir(delivery(maildir));
    await deliverToMaildir(delivery(maildir));
    assert.equal((await listing(maildir, 'new')).length, 2);
  });

  interface LineEndingRow {
    why: string;
    prepend: string;
    message: string;
  }

  const LINE_ENDING_ROWS: LineEndingRow[] = [
    { why: 'CRLF pairs split across every chunk boundary', prepend: PREPEND, message: MESSAGE },
    { why: 'a lone CR is not a line ending and stays', prepend: '', message: 'a\rb\r\r\nc\r' },
    { why: 'CR CR LF keeps the first CR', prepend: '', message: '\r\r\n\r\r\r\n' },
    { why: 'a CR at the very end stays', prepend: 'X: y\r\n', message: 'body\r\n\r' },
    { why: 'a CRLF split between prepend and message is still one line ending', prepend: 'X: y\r', message: '\nbody\r\n' },
    { why: 'a lone LF stays', prepend: '', message: 'a\nb\r\n\n' },
    { why: 'an empty message leaves just the prepended lines', prepend: PREPEND, message: '' },
  ];

  for (const row of LINE_ENDING_ROWS) {
    test(`CRLF->LF, 1-byte chunks: ${row.why}`, async () => {
      const result = await deliverToMaildir(
        delivery(freshMaildir(), { prepend: row.prepend, message: () => chunked(row.message, 1) }),
      );
      const expected = toLf(row.prepend + row.message);
      assert.deepEqual(await readFile(result.file), expected);
      assert.equal(result.size, expected.length);
    });
  }

  test('CRLF->LF gives the same bytes whatever the chunk size', async () => {
    // Every byte value, with CR and LF dense enough to straddle every boundary.
    const message = Buffer.alloc(4096);
    for (let i = 0; i < message.length; i++) message[i] = i % 3 === 0 ? 0x0d : i % 5 === 0 ? 0x0a : (i * 7) & 0xff;
    const expected = toLf(Buffer.concat([Buffer.from(PREPEND), message]));
    for (const size of [1, 2, 3, 7, 64, 4096]) {
      const result = await deliverToMaildir(delivery(freshMaildir(), { message: () => chunked(message, size) }));
      assert.deepEqual(await readFile(result.file), expected, `chunk size ${size}`);
    }
  });

  test('a 5 MiB message streams through intact', async () => {
    const line = 'The quick brown fox jumps over the lazy dog 0123456789.\r\n';
    const message = Buffer.from(line.repeat(Math.ceil((5 * 1024 * 1024) / line.length)));
    assert.ok(message.length >= 5 * 1024 * 1024);
    const maildir = freshMaildir();
    const result = await deliverToMaildir(delivery(maildir, { message: () => chunked(message, 65536) }));
    const expected = toLf(Buffer.concat([Buffer.from(PREPEND), message]));
    assert.equal(result.size, expected.length);
    assert.ok((await readFile(result.file)).equals(expected));
    assert.deepEqual(await listing(maildir, 'tmp'), []);
  });

  test('1000 deliveries in the same millisecond get 1000 distinct files', async () => {
    const maildir = freshMaildir();
    mock.timers.enable({ apis: ['Date'], now: 1700000000123 });
    try {
      const files: string[] = [];
      for (let batch = 0; batch < 20; batch++) {
        const results = await Promise.all(Array.from({ length: 50 }, () => deliverToMaildir(delivery(maildir))));
        files.push(...results.map((r) => r.file));
      }
      assert.equal(Date.now(), 1700000000123, 'the clock stood still');
      assert.equal(new Set(files).size, 1000);
    } finally {
      mock.timers.reset();
    }
    const names = await listing(maildir, 'new');
    assert.equal(names.length, 1000);
    assert.ok(names.every((n) => n.startsWith('1700000000.M123000P')));
    assert.deepEqual(await listing(maildir, 'tmp'), []);
  });

  interface FailureRow {
    why: string;
    /** Prepares the Maildir path and returns it. */
    setup: () => Promise<string>;
    message?: () => Readable;
    temporary: boolean;
  }

  const failingStream = (): Readable =>
    new Readable({
      read() {
        this.push(Buffer.from('Subject: half\r\n\r\n'));
        this.destroy(Object.assign(new Error('queue file read failed'), { code: 'EIO' }));
      },
    });

  const FAILURE_ROWS: FailureRow[] = [
    {
      why: 'a Maildir path under a file (ENOTDIR) is permanent',
      setup: async () => {
        const dir = join(root, `box${counter++}`);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'blocker'), 'not a directory');
        return join(dir, 'blocker', 'Maildir');
      },
      temporary: false,
    },
    {
      why: 'a Maildir that is itself a file is permanent',
      setup: async () => {
        const dir = join(root, `box${counter++}`);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'Maildir'), 'not a directory');
        return join(dir, 'Maildir');
      },
      temporary: false,
    },
    {
      why: 'new/ being a file is permanent, and tmp/ is left empty',
      setup: async () => {
        const maildir = freshMaildir();
        await mkdir(join(maildir, 'tmp'), { recursive: true });
        await writeFile(join(maildir, 'new'), 'not a directory');
        return maildir;
      },
      temporary: false,
    },
    {
      why: 'the message failing to read mid-way is temporary, and the partial file is removed',
      setup: async () => freshMaildir(),
      message: failingStream,
      temporary: true,
    },
    {
      why: 'the message failing to open is temporary',
      setup: async () => freshMaildir(),
      message: () => {
        throw Object.assign(new Error('queue file gone'), { code: 'ENOENT' });
      },
      temporary: true,
    },
  ];

  for (const row of FAILURE_ROWS) {
    test(row.why, async () => {
      const maildir = await row.setup();
      const d = delivery(maildir, row.message ? { message: row.message } : {});
      await assert.rejects(deliverToMaildir(d), (err: unknown) => {
        assert.ok(err instanceof MaildirError, String(err));
        assert.equal(err.temporary, row.temporary, err.message);
        assert.equal(err.name, 'MaildirError');
        return true;
      });
      for (const sub of ['tmp', 'new'] as const) {
        const entries = await listing(maildir, sub).catch(() => []);
        assert.deepEqual(entries, [], `${sub}/ is empty`);
      }
    });
  }
});

describe('copyName', () => {
  const rows: { why: string; queueId: string; received: Date; hostname: string; expected: string }[] = [
    {
      why: 'arrival seconds, queue id, host',
      queueId: '0MWT707BG0038AI',
      received: new Date(1700000000999),
      hostname: 'mx.example.com',
      expected: '1700000000.0MWT707BG0038AI.mx.example.com',
    },
    {
      why: '"/" and ":" in the host are escaped, so the name stays one file without an info part',
      queueId: '0MWT707BG0038AI',
      received: new Date(0),
      hostname: 'a/b:c',
      expected: '0.0MWT707BG0038AI.a\\057b\\072c',
    },
  ];
  for (const row of rows) test(row.why, () => assert.equal(copyName(row.queueId, row.received, row.hostname), row.expected));
});

describe('deliverToMaildir with the name of the copy', () => {
  const NAME = '1700000000.0MWT707BG0038AI.mx.example.com';

  test('a second delivery of the same copy finds it in new/ and writes nothing', async () => {
    const maildir = freshMaildir();
    const first = await deliverToMaildir(delivery(maildir, { name: NAME }));
    assert.equal(first.existed, false);
    assert.equal(first.file, join(maildir, 'new', NAME));
    const again = await deliverToMaildir(
      delivery(maildir, { name: NAME, message: () => chunked('Subject: other\r\n\r\nx\r\n', 4) }),
    );
    assert.deepEqual([again.existed, again.file], [true, first.file]);
    assert.deepEqual(await listing(maildir, 'new'), [NAME]);
    assert.deepEqual(await readFile(first.file), toLf(PREPEND + MESSAGE), 'the first copy is untouched');
    assert.deepEqual(await listing(maildir, 'tmp'), []);
  });

  test('a copy a mail client moved to cur/ with flags is found when asked to look there', async () => {
    const maildir = freshMaildir();
    const first = await deliverToMaildir(delivery(maildir, { name: NAME }));
    const seen = join(maildir, 'cur', `${NAME}:2,S`);
    await rename(first.file, seen);
    const again = await deliverToMaildir(delivery(maildir, { name: NAME, lookInCur: true }));
    assert.deepEqual([again.existed, again.file], [true, seen]);
    assert.deepEqual(await listing(maildir, 'new'), []);
    assert.deepEqual(await listing(maildir, 'cur'), [`${NAME}:2,S`]);
  });

  test('a copy the POP3 server moved to cur/ with its size in the name (",W=") is found', async () => {
    const maildir = freshMaildir();
    const first = await deliverToMaildir(delivery(maildir, { name: NAME }));
    const popped = join(maildir, 'cur', `${NAME},W=123:2,`);
    await rename(first.file, popped);
    const again = await deliverToMaildir(delivery(maildir, { name: NAME, lookInCur: true }));
    assert.deepEqual([again.existed, again.file], [true, popped]);
    assert.deepEqual(await listing(maildir, 'new'), []);
  });

  test('a name that only starts like the copy is another message', async () => {
    const maildir = freshMaildir();
    await mkdir(join(maildir, 'cur'), { recursive: true });
    await writeFile(join(maildir, 'cur', `${NAME}.other:2,S`), 'x');
    const result = await deliverToMaildir(delivery(maildir, { name: NAME, lookInCur: true }));
    assert.equal(result.existed, false);
    assert.deepEqual(await listing(maildir, 'new'), [NAME]);
  });

  test('without lookInCur, cur/ is not read (the caller knows no earlier attempt ran)', async () => {
    const maildir = freshMaildir();
    await mkdir(join(maildir, 'cur'), { recursive: true });
    await writeFile(join(maildir, 'cur', `${NAME}:2,S`), 'x');
    const result = await deliverToMaildir(delivery(maildir, { name: NAME }));
    assert.equal(result.existed, false);
  });

  test('a partial file an attempt left in tmp/ is replaced, and the copy delivered whole', async () => {
    const maildir = freshMaildir();
    await mkdir(join(maildir, 'tmp'), { recursive: true });
    await writeFile(join(maildir, 'tmp', NAME), 'Subject: half');
    const result = await deliverToMaildir(delivery(maildir, { name: NAME }));
    assert.equal(result.existed, false);
    assert.deepEqual(await readFile(result.file), toLf(PREPEND + MESSAGE));
    assert.deepEqual(await listing(maildir, 'tmp'), []);
  });

  test('a file already in new/ under the name is never overwritten', async () => {
    const maildir = freshMaildir();
    await mkdir(join(maildir, 'new'), { recursive: true });
    await writeFile(join(maildir, 'new', NAME), 'the earlier copy');
    const result = await deliverToMaildir(delivery(maildir, { name: NAME }));
    assert.equal(result.existed, true);
    assert.equal(await readFile(result.file, 'utf8'), 'the earlier copy');
  });

  for (const name of ['', '.hidden', '..', 'a/b', 'a:2,S', 'nul\0']) {
    test(`${JSON.stringify(name)} is refused as a name`, async () => {
      const maildir = freshMaildir();
      await assert.rejects(deliverToMaildir(delivery(maildir, { name })), (err: unknown) => {
        assert.ok(err instanceof MaildirError);
        assert.equal(err.temporary, false);
        return true;
      });
      assert.deepEqual(await listing(maildir, 'new'), []);
    });
  }
});

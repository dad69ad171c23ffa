import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseHeaderSection } from '../../core/message/headers.js';
import type { HeaderField } from '../../core/model/index.js';

const f = (name: string, value: string): HeaderField => ({ name, value });

describe('parseHeaderSection', () => {
  const rows: Array<{ why: string; text: string; expected: HeaderField[] }> = [
    {
      why: 'fields up to the empty line',
      text: 'Subject: hi\r\nFrom: a@b\r\n\r\nX: body\r\n',
      expected: [f('Subject', 'hi'), f('From', 'a@b')],
    },
    { why: 'LF line ends', text: 'A: 1\nB: 2\n\nbody', expected: [f('A', '1'), f('B', '2')] },
    {
      why: 'folded lines are unfolded with one space',
      text: 'Subject: a\r\n b\r\n\t c\r\n\r\n',
      expected: [f('Subject', 'a b c')],
    },
    { why: 'value trimmed', text: 'Subject:   hi  \r\n\r\n', expected: [f('Subject', 'hi')] },
    { why: 'an empty value', text: 'X-Empty:\r\nA: 1\r\n\r\n', expected: [f('X-Empty', ''), f('A', '1')] },
    { why: 'a line that is not a field ends the section', text: 'A: 1\r\nnot a field\r\nB: 2\r\n', expected: [f('A', '1')] },
    { why: 'a name with a space is not a field name', text: 'Sub ject: hi\r\n\r\n', expected: [] },
    { why: 'a continuation before any field ends the section', text: ' x: 1\r\nA: 1\r\n', expected: [] },
    // Found by fuzzing: the value began with the space that joined the folded line.
    {
      why: 'an empty first line, value on the folded line',
      text: 'Subject:\r\n folded\r\n\r\n',
      expected: [f('Subject', 'folded')],
    },
    { why: 'blank folded lines add nothing', text: 'Subject: a\r\n \r\n\t\r\n b\r\n\r\n', expected: [f('Subject', 'a b')] },
    { why: 'only blank folded lines', text: 'X:\r\n \r\n\r\n', expected: [f('X', '')] },
  ];
  for (const row of rows) {
    test(row.why, () => assert.deepEqual(parseHeaderSection(row.text), row.expected));
  }
});

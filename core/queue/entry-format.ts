/*
 * The on-disk format of one queue entry: the message bytes, then the envelope
 * as JSON, then a fixed-size footer that says where the envelope starts. One
 * file per message, written front to back, so a commit is one fsync and one
 * rename (Postfix keeps envelope and content in one queue file for the same
 * reason). Pure: builds and parses footers.
 */

const FOOTER_TAG = '\n%qgate-envelope ';
/** "\n%qgate-envelope " + 16 digits (message length) + " " + 10 digits (envelope length) + "\n" */
export const FOOTER_LENGTH = FOOTER_TAG.length + 16 + 1 + 10 + 1;

export function envelopeTrailer(envelopeJson: string, messageLength: number): Buffer {
  const json = Buffer.from(envelopeJson);
  const footer = `${FOOTER_TAG}${String(messageLength).padStart(16, '0')} ${String(json.length).padStart(10, '0')}\n`;
  return Buffer.concat([json, Buffer.from(footer)]);
}

export interface FooterInfo {
  readonly messageLength: number;
  readonly envelopeLength: number;
}

/** Parses the footer (the last FOOTER_LENGTH bytes of an entry) given the entry's size. */
export function parseFooter(footer: Buffer, fileSize: number): FooterInfo | undefined {
  if (footer.length !== FOOTER_LENGTH) return undefined;
  const m = /^\n%qgate-envelope (\d{16}) (\d{10})\n$/.exec(footer.toString('latin1'));
  if (!m) return undefined;
  const messageLength = Number(m[1]);
  const envelopeLength = Number(m[2]);
  if (messageLength + envelopeLength + FOOTER_LENGTH !== fileSize) return undefined;
  return { messageLength, envelopeLength };
}

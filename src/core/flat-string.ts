/**
 * V8 keeps a string built by concatenation as a rope (a tree of 32-byte pieces) until
 * something needs it flat, and even flattened it keeps the rope's head. Keys and ids that live
 * as long as the config (realserver ids, job keys, endpoint keys, each in several maps) cost
 * ~200 bytes apiece that way at 50,000 realservers; a fresh copy is a plain string of
 * 16 bytes + its length. Only one-byte strings are copied (latin1 round-trips exactly);
 * strings shorter than 13 characters are never ropes.
 */
const ONE_BYTE = /^[\u0000-\u00ff]*$/;

export function flatString(s: string): string {
  return s.length >= 13 && ONE_BYTE.test(s) ? Buffer.from(s, 'latin1').toString('latin1') : s;
}

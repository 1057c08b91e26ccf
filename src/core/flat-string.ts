/**
 * V8 keeps a string built by concatenation as a rope (a tree of 32-byte pieces) until
 * something needs it flat, and even flattened it keeps the rope's head. Keys and ids that live
 * as long as the config (realserver ids, job keys, endpoint keys, each in several maps) cost
 * ~190 bytes apiece that way; a fresh copy is a plain string of 16 bytes + its length (~50).
 * A JSON round trip makes that copy for any string (lone surrogates included) in ~1 µs;
 * strings shorter than 13 characters are never ropes.
 */
export function flatString(s: string): string {
  return s.length >= 13 ? (JSON.parse(JSON.stringify(s)) as string) : s;
}
